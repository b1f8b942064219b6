// Command elfcheck checks that a file is a static ELF executable (no
// program interpreter, no dynamic section) for the machine given by its
// ELF e_machine number. scripts/crossbuild.sh runs it on each binary.
//
//	go run ./scripts/elfcheck FILE MACHINE
package main

import (
	"debug/elf"
	"fmt"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: elfcheck FILE MACHINE")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "elfcheck:", err)
		os.Exit(1)
	}
}

func check(path, machine string) error {
	want, err := strconv.Atoi(machine)
	if err != nil {
		return fmt.Errorf("machine %q: %w", machine, err)
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		return fmt.Errorf("%s: type %v, want an executable (ET_EXEC)", path, f.Type)
	}
	if int(f.Machine) != want {
		return fmt.Errorf("%s: machine %v, want %v", path, f.Machine, elf.Machine(want))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s: has %v: not static", path, p.Type)
		}
	}
	return nil
}
