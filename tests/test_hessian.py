"""R-DARTS curvature tools and DARTS-ES (method_sa_darts.md §7; brief §4.5) on toy losses and hand-made sequences."""
import io
import math

import pytest
import torch

from srnas.search.hessian import EarlyStop, dominant_eigenvalue, hessian_wrt, hvp_power_iteration


def _spd(eigenvalues, seed=0):
    """A symmetric matrix Q diag(eigenvalues) Q^T with a random orthogonal Q (float64)."""
    n = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T


def _params(seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_(True),
            torch.randn(3, generator=g, dtype=torch.float64).requires_grad_(True)]


def test_hessian_of_quadratic_plus_cubic_at_the_point():
    a = _spd([4.0, 3.0, 2.0, 1.5, 1.0, 0.5, 0.25, 0.1, 0.05])
    params = _params()

    def loss_fn():  # 0.5 x^T A x + sum x^3 / 6  ->  H = A + diag(x)
        x = torch.cat([p.reshape(-1) for p in params])
        return 0.5 * x @ a @ x + (x ** 3).sum() / 6

    x = torch.cat([p.detach().reshape(-1) for p in params])
    h = hessian_wrt(loss_fn, params)
    assert h.shape == (9, 9) and not h.requires_grad
    assert torch.allclose(h, a + torch.diag(x), atol=1e-12)


def test_dominant_eigenvalue_of_known_spectrum():
    assert dominant_eigenvalue(_spd([3.5, 2.0, -7.0, 0.1])) == pytest.approx(3.5, abs=1e-10)  # the largest, not |.|


def test_dominant_eigenvalue_symmetrises():
    h = _spd([2.0, 1.0, 0.5])
    skew = torch.tensor([[0.0, 1e-3, 0.0], [-1e-3, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert dominant_eigenvalue(h + skew) == pytest.approx(2.0, abs=1e-10)


def test_hessian_of_linear_loss_is_zero():
    params = _params()
    h = hessian_wrt(lambda: 0.2 * sum(p.sum() for p in params), params)
    assert torch.equal(h, torch.zeros(9, 9, dtype=torch.float64))


def test_power_iteration_agrees_with_eigvalsh():
    a = _spd([5.0, 2.0, 1.5, 1.0, 0.8, 0.5, 0.3, 0.2, 0.1], seed=3)
    params = _params(seed=4)

    def loss_fn():
        x = torch.cat([p.reshape(-1) for p in params])
        return 0.5 * x @ a @ x + (x ** 3).sum() / 30

    exact = dominant_eigenvalue(hessian_wrt(loss_fn, params))
    approx = hvp_power_iteration(loss_fn, params, iters=60, generator=torch.Generator().manual_seed(0))
    assert approx == pytest.approx(exact, rel=1e-6)


GROWING = [1.0] * 11 + [2.0, 3.0, 4.0, 5.0]  # evaluations at epochs 2, 4, ..., 30


def test_early_stop_triggers_on_hand_computed_sequence():
    # window 5, delta 4. Recording epoch 24 (eigenvalue 2): LA around epoch 20 = (1+1+1+1+2)/5 = 1.2, LA around
    # epoch 12 = 1 -> 1.2 <= 1.3, go on. Recording epoch 26 (eigenvalue 3): LA around 22 = (1+1+1+2+3)/5 = 1.6 vs
    # LA around 14 = 1 -> 1.6 > 1.3: stop, roll back to epoch 14.
    es = EarlyStop()
    fired = [es.record(2 * (i + 1), ev) for i, ev in enumerate(GROWING[:13])]
    assert fired == [False] * 12 + [True]
    assert es.stop_epoch == 14
    assert es.local_average(10) == pytest.approx(1.6) and es.local_average(9) == pytest.approx(1.2)


def test_early_stop_waits_until_compared_epoch_is_10():
    # eigenvalues double every evaluation: any pair of LAs 4 evaluations apart has ratio ~16 > 1.3, so the only
    # thing holding the stop back is the start epoch: the first comparison with a point at epoch >= 10 happens when
    # epoch 22 is recorded (its LA is centred at epoch 18, compared with epoch 10)
    es = EarlyStop()
    for epoch in range(2, 21, 2):
        assert not es.record(epoch, 2.0 ** epoch)
    assert es.record(22, 2.0 ** 22)
    assert es.stop_epoch == 10


def _official_stop(evs, ev_freq=2, window=5, delta=4, factor=1.3, start=10):
    """R-DARTS EVLocalAvg.update/early_stop index arithmetic (epochs from 0, evaluated every ev_freq epochs)."""
    ev, la, la_epoch, lo = [], [], {}, 0
    for i, value in enumerate(evs):
        epoch = i * ev_freq
        ev.append(value)
        if len(ev) >= math.ceil(window / 2):
            if len(ev) < window:
                la.append(sum(ev) / len(ev))
            else:
                la.append(sum(ev[lo:lo + window]) / window)
                lo += 1
            la_epoch[epoch] = epoch - ev_freq * (window // 2)
        else:
            la_epoch[epoch] = -1
        if la_epoch[epoch] - ev_freq * delta >= start and la[-1] / la[-1 - delta] > factor:
            return epoch, la_epoch[epoch] - ev_freq * delta
    return None, None


@pytest.mark.parametrize("seed", range(20))
def test_early_stop_matches_official_index_arithmetic(seed):
    g = torch.Generator().manual_seed(seed)
    evs = torch.exp(torch.cumsum(0.15 * torch.randn(24, generator=g, dtype=torch.float64) + 0.03, 0)).tolist()
    es = EarlyStop()
    fired_at = next((2 * i for i, v in enumerate(evs) if es.record(2 * i, v)), None)
    assert (fired_at, es.stop_epoch) == _official_stop(evs)


def test_early_stop_resume_from_state_dict():
    full = EarlyStop()
    for i, ev in enumerate(GROWING):
        full.record(2 * (i + 1), ev)
    first = EarlyStop()
    for i, ev in enumerate(GROWING[:8]):
        first.record(2 * (i + 1), ev)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = EarlyStop(window=3)  # settings come from the state
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for i, ev in enumerate(GROWING[8:], start=8):
        resumed.record(2 * (i + 1), ev)
    assert resumed.state_dict() == full.state_dict() and resumed.stop_epoch == 14


def test_early_stop_rejects_non_increasing_epochs():
    es = EarlyStop()
    es.record(4, 1.0)
    with pytest.raises(ValueError, match="increase"):
        es.record(4, 1.0)
