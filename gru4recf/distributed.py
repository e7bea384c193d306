"""Several processes, one run: torchrun's environment, the process group, and the few collective
operations that training and evaluation need.

A run started by `torchrun` (or any launcher that sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR
and MASTER_PORT) trains with DistributedDataParallel. Without those variables, or with
WORLD_SIZE=1, nothing here does anything and a run is exactly the single-process run.

The contract between the processes of a run:
- batches: every process builds the same global batches (same seed, same order) and keeps its
  rows of each one (`data.batching.shard_rows`), so all take the same number of steps;
- training: DDP averages the gradients; each process weights its loss so that the average is the
  gradient of the global batch's loss (`StepRunner`);
- evaluation: each process ranks its users' targets; the counts of target ranks are summed
  exactly (integers), so every process gets the single-process metrics;
- rank 0 alone writes checkpoints and logs, and takes the early-stopping decisions.
"""
import gc
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import ContextManager, Iterator, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .errors import DistributedError

REQUIRED_ENV = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in its run: `rank` of `world_size` processes, `local_rank` on its
    machine, and the device its collective operations use (CUDA for nccl, else the CPU)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    comm_device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        """Whether there are other processes to talk to."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints and logs and decides early stopping."""
        return self.rank == 0

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of `tensor` over all processes (a copy; `tensor` in one process)."""
        if not self.active:
            return tensor
        total = tensor.detach().to(self.comm_device, copy=True)
        dist.all_reduce(total)
        return total.to(tensor.device)

    def from_main(self, flag: bool) -> bool:
        """Rank 0's value of `flag` on every process: decisions are taken once."""
        if not self.active:
            return flag
        value = torch.tensor([int(flag)], device=self.comm_device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    @contextmanager
    def local_main_first(self) -> Iterator[None]:
        """The body runs on each machine's local rank 0 first, then on the others (e.g. a
        download that every process of the machine then reads)."""
        if self.local_rank != 0:
            self.barrier()
        yield
        if self.local_rank == 0:
            self.barrier()


SINGLE_PROCESS = DistributedContext()


def _integer(environ: Mapping[str, str], name: str) -> int:
    text = environ.get(name, "")
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"environment variable {name}={text!r} is not an integer; start the run with "
                               "torchrun, which sets it") from None


def context_from_env(environ: Optional[Mapping[str, str]] = None) -> Tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's variables; (0, 0, 1) when WORLD_SIZE is unset or
    1. Missing or inconsistent variables are a DistributedError naming them."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return 0, 0, 1
    world_size = _integer(environ, "WORLD_SIZE")
    if world_size < 1:
        raise DistributedError(f"environment variable WORLD_SIZE={world_size} must be at least 1")
    if world_size == 1:
        return 0, 0, 1
    missing = [name for name in REQUIRED_ENV if not environ.get(name)]
    if missing:
        raise DistributedError(f"WORLD_SIZE={world_size} but {', '.join(missing)} "
                               f"{'is' if len(missing) == 1 else 'are'} not set; start the run with torchrun "
                               "(e.g. torchrun --nproc_per_node=2 run.py ...), which sets RANK, LOCAL_RANK, "
                               "MASTER_ADDR and MASTER_PORT")
    rank, local_rank = _integer(environ, "RANK"), _integer(environ, "LOCAL_RANK")
    if not 0 <= rank < world_size:
        raise DistributedError(f"environment variable RANK={rank} is outside 0..{world_size - 1} (WORLD_SIZE="
                               f"{world_size})")
    if local_rank < 0:
        raise DistributedError(f"environment variable LOCAL_RANK={local_rank} must not be negative")
    return rank, local_rank, world_size


def process_rank(environ: Optional[Mapping[str, str]] = None) -> int:
    """This process's rank as torchrun set it (0 when not started by a launcher)."""
    environ = os.environ if environ is None else environ
    text = environ.get("RANK", "0")
    return int(text) if text.isdigit() else 0


def local_device(device: torch.device, local_rank: int, world_size: int) -> torch.device:
    """The device of one process: with several processes, plain 'cuda' means this machine's GPU
    number LOCAL_RANK (one GPU per process); any other device is used as given."""
    if world_size > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


def resolve_backend(backend: str, device: torch.device) -> str:
    """'auto' is nccl for CUDA devices and gloo otherwise; nccl without CUDA is refused."""
    if backend == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise DistributedError(f"ddp_backend 'nccl' needs CUDA devices but this run's device is {device}; use "
                               "ddp_backend=gloo (or auto) on CPUs, or device=cuda")
    return backend


@contextmanager
def distributed_run(backend: str, device: torch.device,
                    environ: Optional[Mapping[str, str]] = None) -> Iterator[Tuple[DistributedContext, torch.device]]:
    """Joins the run's process group for the body (and leaves it after): yields this process's
    context and its compute device. A single process joins nothing. A process group that the
    caller already initialised is used as it is and left open."""
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        environ = os.environ if environ is None else environ
        local_rank = _integer(environ, "LOCAL_RANK") if "LOCAL_RANK" in environ else 0
        device = local_device(device, local_rank, world_size)
        comm = device if dist.get_backend() == "nccl" else torch.device("cpu")
        yield DistributedContext(rank, local_rank, world_size, comm), device
        return
    rank, local_rank, world_size = context_from_env(environ)
    if world_size == 1:
        yield SINGLE_PROCESS, device
        return
    device = local_device(device, local_rank, world_size)
    backend = resolve_backend(backend, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    except (RuntimeError, ValueError) as error:
        raise DistributedError(f"process {rank} of {world_size} could not join the process group ({backend} "
                               f"backend, MASTER_ADDR/MASTER_PORT from the environment): {error}") from None
    comm = device if backend == "nccl" else torch.device("cpu")
    try:
        yield DistributedContext(rank, local_rank, world_size, comm), device
        gc.collect()  # DDP's reducer sits in reference cycles: free it while its process group still exists
        dist.barrier()  # leave together: a process tearing down while a peer still talks to it can abort (gloo)
    finally:
        dist.destroy_process_group()


class _Call(nn.Module):
    """Lets DDP run any of the model's computations (`loss`, `encode_steps`...) as its forward:
    DDP arms the gradient all-reduce only for what runs inside its forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, function, *args):
        return function(*args)


class StepRunner:
    """How the trainer runs a model's training computations: directly in one process, through
    DistributedDataParallel (gradients averaged over processes on backward) in several.

    `start_epoch` re-seeds torch's generator from (seed, epoch, rank) in a distributed run, so each
    process draws its own dropout masks and a resumed run needs no per-process generator states."""

    def __init__(self, context: DistributedContext = SINGLE_PROCESS, seed: int = 0,
                 ddp: Optional[nn.parallel.DistributedDataParallel] = None) -> None:
        self.context = context
        self.seed = seed
        self.ddp = ddp

    def __call__(self, function, *args):
        """`function(*args)`, inside DDP's forward when distributed."""
        return function(*args) if self.ddp is None else self.ddp(function, *args)

    def sync(self, now: bool) -> ContextManager:
        """Context for a forward and backward: with `now` False the gradients only accumulate
        locally (DDP's no_sync), to be all-reduced by a later backward with `now` True."""
        return nullcontext() if now or self.ddp is None else self.ddp.no_sync()

    def start_epoch(self, epoch: int) -> None:
        if self.context.active:
            seed = np.random.SeedSequence([self.seed, epoch, self.context.rank]).generate_state(1)[0]
            torch.manual_seed(int(seed))

    def global_loss(self, local: float) -> float:
        """The loss of the global batches from this process's weighted share (`local` itself in
        one process): the processes' weighted losses average to the global one."""
        if not self.context.active:
            return local
        return self.context.sum(torch.tensor([local], dtype=torch.float64)).item() / self.context.world_size


def step_runner(model: nn.Module, context: DistributedContext, seed: int,
                  find_unused_parameters: bool = False) -> StepRunner:
    """Wraps `model` for training in `context` (in a distributed run DDP's constructor broadcasts
    rank 0's weights to every process). The model itself stays unwrapped: its state_dict, and so
    every checkpoint, is the same as in a single process. `find_unused_parameters` is needed when
    some parameters get no gradient in a step (training strategies freezing subnets)."""
    if not context.active:
        return StepRunner(context, seed)
    device = next(model.parameters()).device
    device_ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel(_Call(model), device_ids=device_ids,
                                              find_unused_parameters=find_unused_parameters)
    return StepRunner(context, seed, ddp)
