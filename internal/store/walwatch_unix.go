//go:build unix

package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// mapShared maps the first size bytes of the file at path, shared and read-only.
func mapShared(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if st.Size() < int64(size) {
		return nil, fmt.Errorf("%s: %d bytes, want at least %d", path, st.Size(), size)
	}
	return syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapShared(b []byte) {
	if b != nil {
		syscall.Munmap(b)
	}
}

// loadWords copies src to dst (lengths multiples of 4, src 4-byte aligned) one 32-bit word at
// a time, each with an atomic load.
func loadWords(dst, src []byte) {
	for i := 0; i+4 <= len(src); i += 4 {
		v := atomic.LoadUint32((*uint32)(unsafe.Pointer(&src[i])))
		binary.NativeEndian.PutUint32(dst[i:], v)
	}
}
