package slack

// uploadJobs are the jobs that download and analyse shared files: submit
// runs them on the pool's heavy workers (bot.Pool.SubmitHeavy), at most a
// quarter of the workers and never the ones commands and clicks need.
var uploadJobs = map[string]bool{"files": true, "file_shared": true}
