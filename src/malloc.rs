//! glibc allocator settings for a process that frees and allocates many-megabyte tensors every
//! training iteration.
//!
//! By default glibc serves large allocations with `mmap` and returns freed memory to the kernel
//! at once, so each iteration's activations and gradients land in fresh pages that the kernel
//! must fault in and zero again (about a million page faults per 5 bench iterations at width 64).
//! Serving allocations up to 256 MB from the heap and keeping up to 1 GB of freed heap makes the
//! next iteration reuse the same memory: the unet preset's iteration is ~10 % faster and its peak
//! memory unchanged (BENCHMARKS.md). A user's own `MALLOC_MMAP_THRESHOLD_` or
//! `MALLOC_TRIM_THRESHOLD_` takes precedence.
//!
//! One arena for all threads: the command runs on one of rayon's workers (`crate::threads`),
//! and a thread other than the main one allocates from an arena of its own, made of 64 MB
//! `mmap`-ed heaps, which kept less of what was freed: the unet bench's page faults went from
//! 272,000 to 437,000 when the command moved to a worker, and back to 269,000 with one arena
//! (BENCHMARKS.md, change 16). The tensors are allocated by the thread that runs the command;
//! the parallel tasks write into them, so one arena's lock is hardly contended. A user's own
//! `MALLOC_ARENA_MAX` takes precedence.
//!
//! The binary calls [`tune`] first thing in `main`, and so do the timing programs of
//! `examples/`, so that what they time is what the binary runs.

/// Applies the settings, unless the environment already sets them (glibc on Linux only).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    let user_set = |names: &[&str]| names.iter().any(|name| std::env::var_os(name).is_some());
    // SAFETY (both blocks): `mallopt` only changes the allocator's parameters; it is called
    // first thing in `main` (the binary's and the timing examples'), before any other thread
    // exists. A rejected value leaves glibc's default in place.
    if !user_set(&["MALLOC_ARENA_MAX"]) {
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
    if user_set(&["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]) {
        return;
    }
    unsafe {
        // glibc before 2.35 caps the threshold at 32 MB (half its heap size).
        if libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20) == 0 {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        }
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Other platforms keep their allocator's behaviour.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
