"""``benchmarks/sim_to_real.py --adapt-bn``: AdaBN re-estimates BatchNorm statistics on the
target data through sigvision's own prediction loop (which switches the model to eval)."""
import sys

import torch

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.sim_to_real import adapt_batchnorm  # noqa: E402
from sigvision.train.forward import predict_dataset  # noqa: E402


class _Shifted(torch.utils.data.Dataset):
    kind = "signal"  # given to the model as it is (no image normalisation)

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):  # sigvision's datasets are indexed by a batch of rows
        idx = torch.as_tensor(idx)
        return self.x[idx], torch.zeros(len(idx), dtype=torch.long), torch.zeros(len(idx), 0)


class _Net(torch.nn.Module):
    """sigvision's model interface: ``forward(images, meta)``."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x, meta=None):
        return self.head(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def _model():
    torch.manual_seed(0)
    return _Net().eval()


def test_adabn_takes_the_target_statistics_through_predict_dataset():
    model = _model()
    bn = model.bn
    assert torch.allclose(bn.running_mean, torch.zeros(4))  # "trained" statistics: the defaults
    g = torch.Generator().manual_seed(1)
    target = 5.0 + 3.0 * torch.randn(40, 3, 12, 12, generator=g)  # a shifted, wider domain
    ds = _Shifted(target)
    n = adapt_batchnorm(model, lambda m: predict_dataset(m, ds, batch_size=8, device=torch.device("cpu")))
    assert n == 1
    assert not model.training and not bn.training  # left ready to predict
    with torch.no_grad():
        pre = model.conv(target)
    want_mean = pre.mean(dim=(0, 2, 3))
    # the cumulative average of the five batches' means is the mean over all 40 samples
    assert torch.allclose(bn.running_mean, want_mean, atol=1e-4)
    assert float(bn.running_var.mean()) > 2.0  # no longer the default 1
    assert bn.momentum == 0.1  # restored
    # adapted: the normalised activations of the target domain are centred again
    with torch.no_grad():
        z = bn(pre)
    assert float(z.mean(dim=(0, 2, 3)).abs().max()) < 0.2


def test_adabn_leaves_a_model_without_batchnorm_untouched():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    called = []
    assert adapt_batchnorm(model, lambda m: called.append(1)) == 0
    assert not called
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
