package chaos

// ComponentFault is one component's part of a fault of several components, for tests that
// fake it.
type ComponentFault = componentFault

// SeveralFaults is the fault of several components that ScaleToZero prepares, already
// prepared with fs; its Prepare is not for use.
func SeveralFaults(fs ...ComponentFault) Fault { return &scaleToZero{faults: fs} }
