//go:build !unix

package testenv

import "syscall"

const (
	sigStop = syscall.Signal(-1)
	sigCont = syscall.Signal(-2)
)

func lockFile(string) (func(), error)                 { return nil, errNoSignals }
func alive(int) bool                                  { return false }
func signalProcess(int, string, syscall.Signal) error { return errNoSignals }
func killProcess(int, string) error                   { return errNoSignals }
