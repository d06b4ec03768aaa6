package bundle

// ScanJSON is scanJSON, for the external tests.
var ScanJSON = scanJSON
