//go:build !unix

package statefile

import "os"

// lockDir opens the lock file; without flock, two edges sharing a state
// directory are not detected.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
