"""keep_freed_memory: large tensors come from malloc's heap, not from mappings made and unmade per batch."""
import subprocess
import sys

import pytest

# a child process, since the setting is process-wide: the bytes malloc holds in mappings of their
# own (mallinfo2's hblkhd) while a 64 MiB tensor is alive, and whether the setting took effect
PROBE = """
import ctypes, sys, torch
from gru4recf.runtime import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
took = keep_freed_memory(sys.argv[1] == "on")
tensor = torch.ones(16 * 1024 * 1024)  # 64 MiB
print(int(took), libc.mallinfo2().hblkhd)
"""


def probe(setting: str) -> tuple:
    done = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True, text=True, check=True)
    took, mapped = done.stdout.split()
    return bool(int(took)), int(mapped)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_keep_freed_memory_serves_large_tensors_from_the_heap():
    pytest.importorskip("ctypes").CDLL("libc.so.6").mallinfo2  # glibc >= 2.33
    took, mapped = probe("on")
    assert took and mapped < 16 * 1024 * 1024  # the 64 MiB block is not a mapping of its own
    took, mapped = probe("off")
    assert not took and mapped >= 64 * 1024 * 1024  # glibc's default: a block this large is mapped alone


def test_keep_freed_memory_is_a_runtime_key_that_defaults_on():
    from gru4recf.experiment import load_config
    assert load_config("GRU4Rec").keep_freed_memory is True
    assert load_config("GRU4Rec", config_dict={"keep_freed_memory": False}).keep_freed_memory is False
