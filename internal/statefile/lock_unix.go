//go:build unix

package statefile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes the state directory's lock file for this process, so
// that two edges never write one state. The kernel drops the lock when
// the process ends, however it ends.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("statefile: %s is in use by another edge (each edge needs a state directory of its own)", path)
		}
		return nil, err
	}
	return f, nil
}
