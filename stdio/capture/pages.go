package capture

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropStartupPages gives back the pages of the executable's read-only
// segments (code, read-only data) that starting the program touched: the
// runtime's start and the package initializers run once, and their pages
// would otherwise count in the logger's memory for as long as its
// container runs. The pages the logger goes on using come back from the
// page cache on the next access. Only mappings of the executable file
// that cannot be written are dropped (their pages are the file's, never
// modified); a failure changes nothing.
func dropStartupPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(maps)) {
		// start-end perms offset dev inode path
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != exe || (f[1] != "r-xp" && f[1] != "r--p") {
			continue
		}
		from, to, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The addresses are not Go memory: the system call takes them as
		// numbers.
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED)
	}
}
