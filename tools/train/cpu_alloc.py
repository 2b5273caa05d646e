"""glibc allocator settings for PyTorch on the CPU.

By default glibc hands every freed block above its mmap threshold straight back to the kernel, so
each multi-MiB temporary of a forward or backward pass costs fresh page faults and kernel zeroing.
Measured on the 2-core machine of docs/MODEL.md: a 64x64 training step 9% faster, a 128x128
evaluation 650 -> 91 ms. The PyTorch sides of tools/bench call it too.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory():
    """Serve large blocks from the heap and never trim it; returns True when glibc accepted."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's upper limit on 64-bit
    ok &= libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    ok &= libc.mallopt(M_TOP_PAD, 256 << 20)
    return bool(ok)
