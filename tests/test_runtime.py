"""Device, AMP and worker choices that matter on GPU machines and under torchrun, checked on CPU."""
import pytest
import torch

from sigvision.errors import ConfigError
from sigvision.runtime import DistInfo, resolve_amp, resolve_device
from sigvision.train.loaders import resolve_workers


def test_amp_auto_takes_bf16_only_where_the_gpu_computes_it_natively(monkeypatch):
    """torch's is_bf16_supported() says yes on V100/T4 too, where bf16 is emulated (slow);
    'auto' must then pick fp16 (with its grad scaler)."""
    cuda = torch.device("cuda")  # a device object only: nothing runs on it

    def emulating(including_emulation: bool = True):  # a V100: bf16 emulated, not native
        return including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", emulating)
    assert resolve_amp("auto", cuda) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # an A100
    assert resolve_amp("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # torch < 2.4, no keyword
    assert resolve_amp("auto", cuda) == "fp16"
    assert resolve_amp("auto", torch.device("cpu")) is None
    assert resolve_amp("bf16", cuda) == "bf16"  # an explicit choice stands


def test_an_explicit_gpu_index_under_torchrun_is_refused():
    """Every rank would take the same GPU (NCCL's duplicate-GPU error, or ranks piled on one card)."""
    with pytest.raises(ConfigError, match="LOCAL_RANK"):
        resolve_device("cuda:1", DistInfo(rank=1, world_size=2, local_rank=1))
    assert resolve_device("cuda:1", DistInfo()) == torch.device("cuda", 1)  # one process: as asked
    assert resolve_device("cpu", DistInfo(rank=1, world_size=2, local_rank=1)) == torch.device("cpu")


def test_automatic_workers_share_the_node_between_its_ranks(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resolve_workers(-1) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # 8 ranks on 16 cores: 2 cores each
    assert resolve_workers(-1) == 0
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_workers(-1) == 4
    assert resolve_workers(3) == 3  # an explicit count stands
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert resolve_workers(-1) == 0


def test_a_loader_read_once_lets_its_workers_go():
    """Prediction (validation every epoch, each fold and TTA shift in infer) builds a loader it
    reads once: its workers exit with it instead of staying beside the training loader's."""
    from sigvision.train.loaders import ShardSampler, make_loader

    kw = dict(ds=list(range(10)), sampler=ShardSampler(10, shuffle=False, seed=0), batch_size=4, num_workers=1,
              device=torch.device("cpu"))
    assert make_loader(**kw).persistent_workers is True
    assert make_loader(**kw, persistent=False).persistent_workers is False


def test_prefetch_is_chosen_from_the_machine_with_an_override(monkeypatch):
    from sigvision.config.load import config_from_dict
    from sigvision.train.loaders import ShardSampler, make_loader, resolve_prefetch

    monkeypatch.setattr("sigvision.train.loaders._ram_bytes", lambda: 16 * 2**30)  # 16 GiB: 1 GiB for queued batches
    mb = 2**20
    assert resolve_prefetch(-1, 8, 10 * mb) == 4  # 320 MiB queued
    assert resolve_prefetch(-1, 8, 64 * mb) == 2  # 4 would queue 2 GiB
    assert resolve_prefetch(-1, 8, 512 * mb) == 1  # at least one
    assert resolve_prefetch(-1, 8, None) == 4
    assert resolve_prefetch(6, 8, 512 * mb) == 6  # an explicit value stands
    ds = [torch.zeros(3, 100, 100, dtype=torch.uint8)] * 10  # a list takes no list of rows: size unknown

    class Rows:
        def __len__(self):
            return 10

        def __getitem__(self, idx):
            return torch.zeros(len(idx), 3, 1024, 1024, dtype=torch.uint8), None, None

    kw = dict(sampler=ShardSampler(10, shuffle=False, seed=0), num_workers=2, device=torch.device("cpu"))
    assert make_loader(Rows(), batch_size=64, **kw).prefetch_factor == 2  # 192 MiB batches x 2 workers
    assert make_loader(Rows(), batch_size=64, prefetch=3, **kw).prefetch_factor == 3
    assert make_loader(ds, batch_size=4, **kw).prefetch_factor == 4
    with pytest.raises(ConfigError, match="train.prefetch_factor"):
        config_from_dict({"train": {"prefetch_factor": 0}})
    with pytest.raises(ConfigError, match="infer.prefetch_factor"):
        config_from_dict({"infer": {"prefetch_factor": -2}})


def test_cache_files_kept_open_follow_the_open_files_limit(monkeypatch):
    """A shuffled epoch over more nights than maps kept open reopens a file per image: the
    budget is half the soft open-files limit (was a fixed 64), within 64..4,096."""
    import resource

    from sigvision.train.data import _open_files_budget

    for soft, want in ((1024, 512), (100, 64), (20000, 4096), (resource.RLIM_INFINITY, 4096)):
        monkeypatch.setattr(resource, "getrlimit", lambda _k, s=soft: (s, resource.RLIM_INFINITY))
        assert _open_files_budget() == want
