r"""A Bayesian multilayer perceptron in PyMC, fitted by variational inference.

The classifier of the Bayesian core (DESIGN, "The Bayesian core"). Its model,
for the network :func:`bayesfold.classifiers._network.forward` with logit
:math:`f_\theta(x)` and R independent replicas :math:`\theta_r`:

.. math::

    W_{l,r} \sim \mathcal{N}\!\left(0,\ s\,g / \sqrt{k_{l-1}}\right), \qquad
    b_{l,r} \sim \mathcal{N}(0,\ s_b),

    \log p(y \mid \theta_r) = \sum_i w_{ri}\,
        \left[y_i f_{\theta_r}(x_i) - \operatorname{softplus} f_{\theta_r}(x_i)\right],

where :math:`k_{l-1}` is the fan-in of layer l, g the fan-in gain of the
activation (1 for tanh), s = ``prior_scale`` and :math:`s_b` =
``bias_prior_scale``. The fan-in scaling keeps the prior predictive of the
logit of order one at any width.

Weighted likelihood. PyMC's Bernoulli takes no event weights, so the
likelihood enters as a ``pm.Potential``. The weights are used as given: their
overall scale tempers the likelihood (weights times c give the posterior of
the likelihood raised to the power c). The OmniFold iteration therefore
normalises each class's weights to sum to the class's Kish effective number of
events with :func:`bayesfold.ratios.normalize_class_weights` (re-exported
here); unit weights give the ordinary likelihood. On a minibatch of B of the n
events, the batch sum is scaled by n / B, an unbiased estimate of the full
sum.

Replicas. One vectorised model: every weight tensor has a leading replica axis,
and replica r's likelihood uses its own row of weights, so the R posteriors are
independent and fit in one compiled graph.

Inference. ``method="advi"`` (default): mean-field ADVI on minibatches, Adam
(``pm.adam``) on the variational parameters ``mu`` and ``rho``
(:math:`\sigma = \operatorname{softplus}\rho`). Each step estimates replica
r's negative ELBO as :math:`\mathrm{KL}(q_r \| p) - \log p(y \mid \theta_r)`
with the KL divergence in closed form (Gaussian prior, Gaussian q) and the
likelihood at one draw :math:`\theta_r \sim q_r` on the minibatch.
``method="fullrank_advi"``: a full-rank Gaussian over all parameters of all
replicas, for small networks only (its cost grows as the square of their
number; at the optimum the replicas decouple, since the target factorises).
``method="nuts"``: ``pm.sample`` on the full sample, the reference for small
networks and samples.

Convergence of ADVI is judged every ``check_every`` steps, rounded up to whole
passes over the events (a window), per replica, on the ELBO and on the
parameters, both taken as window averages:

* the ELBO is flat: the mean of the last window differs from that of the
  window before by less than ``elbo_rtol`` of its size, or by less than twice
  its standard error where the windows hold enough passes to estimate it;
* the parameters have settled: between the two windows the averaged
  variational means moved by less than ``param_tol`` posterior standard
  deviations, and the log standard deviations by less than ``param_tol``
  (root mean square over the replica's parameters).

On large samples the posterior is so narrow that the jitter of even the
smallest step exceeds ``param_tol`` of it, and the parameter test cannot pass.
So once a replica's step has reached its floor (below), a flat ELBO alone
ends its fit: the objective no longer changes by more than its own noise, and
a smaller step is not on offer.

Each replica has its own Adam step size. When its ELBO is flat but its
parameters still move, the step is halved (down to 1/16 of
``learning_rate``): a constant step leaves the parameters jittering around
the optimum, a shrinking one lets them settle. A replica that passes both
tests stops (its step becomes zero) and keeps the average of its variational
parameters over its last window (Polyak-Ruppert averaging) as its posterior,
so that its result does not depend on the other replicas. The fit ends when
every replica has stopped, or at ``max_steps`` with a
:class:`~bayesfold.exceptions.ConvergenceWarning`.

After the fit, one draw of the network parameters per replica is taken from the
approximate posterior and kept: :meth:`BayesianMLPClassifier.predict_logit`
returns the logits of that draw, so that each replica feeds the next step of
the iteration with a draw from its posterior.

Architecture. The default is one SiLU layer of 16 units, not the point MLP's
three layers of 50. Under mean-field ADVI the deep, wide network ignores the
data: on 1000 against 1000 events of the shifted-Gaussian toy (true logit from
-0.33 to 1.99 over x in [-6, 8]) its posterior-mean logit stayed within 0.04
of zero everywhere, while one layer of 16 followed the point MLP's fit. This
is the known behaviour of wide mean-field networks (Coker et al., AISTATS
2022, "Wide mean-field Bayesian neural networks ignore the data"). tanh
flattens the fitted ratio in the tails (1.31 against the true 1.99 at x = 8),
where SiLU follows it (1.88). The widths and the activation remain
configurable.

Speed. Measured with ``benchmarks/bench_advi_step.py`` on one core (float32,
batches of 512): with the JAX backend (the default where JAX is installed) an
ADVI step of the 16-unit network costs about 0.9 ms for 10 replicas and 7 ms
for 100 (Numba: 4.4 and 25 ms); of the 3 x 50 network, 16 ms for 10 and 160 ms
for 100. The scalar tanh of Numba's loops dominated its cost; XLA vectorises
it. The graph runs in float32 by default (the ELBO bookkeeping, window
averages and posterior draws are in float64 outside it). The standard normal
draw of each step comes from NumPy (seeded by the fit) rather than from a
random generator inside the graph, so that every backend gives the same,
reproducible stream.

Compilation. The model, its ADVI step and its forward pass are compiled once per
thread for each network layout and number of replicas; events, weights and the
minibatch live in shared variables, so the dozen fits of an OmniFold run, clones
and fits on new events or with new seeds reuse them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, cast

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from numpy.typing import ArrayLike, NDArray
from pymc.pytensorf import compile as pm_compile
from pymc.variational.approximations import FullRankGroup
from pytensor.graph.replace import graph_replace
from scipy.special import expit, logsumexp
from sklearn.base import BaseEstimator

from bayesfold._backend import (
    DEFAULT_BACKEND,
    blas_threads,
    check_backend,
    compile_mode,
    quiet_jax,
    resolve_backend,
    set_shared,
)
from bayesfold.classifiers._inputs import (
    TrainingData,
    check_features,
    check_training_data,
)
from bayesfold.classifiers._network import (
    FAN_IN_GAIN,
    Standardizer,
    check_architecture,
    forward,
    initial_parameters,
    layer_shapes,
)
from bayesfold.classifiers.base import resolve_rng
from bayesfold.exceptions import ConfigurationError, ConvergenceWarning, NotFittedError
from bayesfold.ratios import normalize_class_weights

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHECK_EVERY",
    "DEFAULT_ELBO_RTOL",
    "DEFAULT_HIDDEN_LAYERS",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_PARAM_TOL",
    "DEFAULT_PREDICTIVE_DRAWS",
    "METHODS",
    "BayesianMLPClassifier",
    "normalize_class_weights",
]

logger = logging.getLogger(__name__)

METHODS = ("advi", "fullrank_advi", "nuts")
NUTS_SAMPLERS = ("pymc", "nutpie", "numpyro", "blackjax")
DTYPES = ("float32", "float64")

#: One tanh layer of 16. Not the point MLP's 3 x 50: under mean-field ADVI
#: that network ignores the data (see the module notes on the architecture).
DEFAULT_HIDDEN_LAYERS: tuple[int, ...] = (16,)
#: SiLU: unlike tanh it does not saturate, so the fitted log ratio keeps its
#: slope beyond the bulk of the events (see the module notes).
DEFAULT_ACTIVATION = "silu"
PREDICTIONS = ("draw", "mean")
#: Prior standard deviation of the weights in units of gain / sqrt(fan_in).
DEFAULT_PRIOR_SCALE = 1.0
#: Prior standard deviation of the biases (the features are standardised).
DEFAULT_BIAS_PRIOR_SCALE = 1.0
#: Adam step size on ``mu`` and ``rho``.
DEFAULT_LEARNING_RATE = 1e-2
#: Events per minibatch (all events when the sample is smaller).
DEFAULT_BATCH_SIZE = 512
#: Budget of ADVI steps.
DEFAULT_MAX_STEPS = 20_000
#: Steps per convergence window.
DEFAULT_CHECK_EVERY = 250
#: Largest relative change of the windowed mean ELBO that counts as converged.
DEFAULT_ELBO_RTOL = 2e-3
#: Largest move of the variational parameters over a window (in posterior
#: standard deviations for ``mu``, in log units for ``sigma``).
DEFAULT_PARAM_TOL = 0.1
#: Draws of the posterior predictive behind ``predict_logit_mean``.
DEFAULT_PREDICTIVE_DRAWS = 200
#: Floating-point type of the compiled graph (see the module notes on speed).
DEFAULT_DTYPE = "float32"
#: BLAS threads during a fit (DESIGN, "Scale"); None leaves them alone.
DEFAULT_BLAS_THREADS = 1
#: NUTS settings: draws and tuning steps per chain, and chains.
DEFAULT_NUTS_DRAWS = 1000
DEFAULT_NUTS_TUNE = 1000
DEFAULT_NUTS_CHAINS = 2
#: A NUTS replica counts as converged when every split R-hat is below this.
NUTS_RHAT_THRESHOLD = 1.01

# On a plateau of the ELBO the Adam step shrinks by this factor, down to this
# fraction of learning_rate: a constant step leaves the parameters jittering
# around the optimum, a decreasing one lets them settle (Robbins-Monro).
LEARNING_RATE_DECAY = 0.5
MIN_LEARNING_RATE_FRACTION = 1 / 16

# A warm start is already near the optimum: its first Adam steps (each about
# the step size in every coordinate, whatever the gradient) start at this
# fraction of learning_rate, so as not to throw it away.
WARM_START_RATE_FRACTION = 1 / 4

# Passes per window needed to estimate the noise of the windowed ELBO.
MIN_PASSES_FOR_NOISE = 4

# Each window's parameter average is also taken over this many equal parts,
# whose scatter gives the standard error of the window average.
PARAMETER_PARTS = 4

# At the smallest step size, parameters whose drift between windows stays
# below this many standard errors (root mean square of the z-scores) have
# settled as far as the step's own jitter lets anyone tell.
PARAMETER_NOISE_Z = 2.0

# The variational standard deviations start at this fraction of the prior's:
# small enough that the first steps see a nearly deterministic network, large
# enough that rho need not travel far (sigma = softplus(rho)).
INITIAL_SIGMA_FRACTION = 0.1

# Posterior draws are taken in chunks so that their parameters, and their
# logits, hold at most this many numbers at a time.
DRAW_CHUNK_ELEMENTS = 8 * 1024 * 1024

# Forward passes run over chunks of events so that one activation array of
# shape (draws x replicas, chunk, width) holds at most this many numbers.
PREDICT_CHUNK_ELEMENTS = 4 * 1024 * 1024


class BayesianMLPClassifier(BaseEstimator):
    """Bayesian neural network classifier, fitted by ADVI (or NUTS) in PyMC.

    Parameters
    ----------
    hidden_layers : sequence of int, default (16,)
        Width of each hidden layer; ``()`` is Bayesian logistic regression.
    activation : {"tanh", "relu", "elu", "softplus", "silu"}, default "silu"
        Activation of the hidden layers.
    prior_scale : float, default 1.0
        Prior standard deviation of each weight of layer l is
        ``prior_scale * gain / sqrt(fan_in_l)``, with the activation's fan-in
        gain (1 for tanh, sqrt(2) for rectifiers); 1 makes the prior draws of
        the network those of a standard fan-in initialisation.
    bias_prior_scale : float, default 1.0
        Prior standard deviation of every bias.
    method : {"advi", "fullrank_advi", "nuts"}, default "advi"
        Mean-field ADVI, full-rank ADVI (small networks only), or NUTS (small
        networks and samples: it evaluates every event at every step).
    learning_rate : float, default 1e-2
        Adam step size of ADVI.
    batch_size : int, default 512
        Most events per ADVI minibatch. Each pass over the events, in a fresh
        random order, is cut into equal batches; every replica sees the same
        events.
    max_steps : int, default 20000
        Budget of ADVI steps.
    check_every : int, default 250
        Steps per convergence window, rounded up to whole passes over the
        events.
    elbo_rtol : float, default 2e-3
        The ELBO of a replica is flat when the mean of its last window differs
        from that of the window before by less than this fraction (or than
        twice its standard error).
    param_tol : float, default 0.1
        The parameters of a replica have settled when, between two windows,
        their window-averaged variational means moved by less than this many
        posterior standard deviations and their log standard deviations by
        less than this (root mean square over the replica's parameters).
    nuts_draws, nuts_tune, nuts_chains : int, default 1000, 1000, 2
        Draws and tuning steps per chain, and chains, of ``method="nuts"``;
        the chains run one after the other.
    nuts_sampler : {"pymc", "nutpie", "numpyro", "blackjax"}, default "pymc"
        NUTS implementation, passed to ``pm.sample``.
    warm_start : bool, default False
        Start ADVI from the variational parameters of the previous fit of this
        instance (same method, features and replicas), with a fresh optimiser.
    prediction : {"draw", "mean"}, default "draw"
        What :meth:`predict_logit` returns: the logits of the kept posterior
        draw (each replica a sample of its posterior), or those of the
        network at the posterior mean of its parameters (one deterministic
        function per replica; cheaper than the predictive mean of
        :meth:`predict_logit_mean`).
    dtype : {"float32", "float64"}, default "float32"
        Floating-point type of the compiled ADVI step and forward pass (NUTS
        always samples in float64).
    backend : {"auto", "jax", "numba", "c"}, default "auto"
        How PyTensor compiles the graphs; see :mod:`bayesfold._backend`
        ("auto" is JAX where installed).
    blas_threads : int or None, default 1
        BLAS threads during ``fit``; None leaves the thread pools alone.
    progressbar : bool, default False
        Show PyMC's progress bar (NUTS only).
    random_state : int, numpy.random.Generator or None, default None
        Seeds the initial parameters, the minibatches, the Monte Carlo draws of
        ADVI or NUTS, and the kept posterior draw.

    Attributes
    ----------
    draw_ : list of ndarray
        The kept posterior draw, [W_1, b_1, ..., W_L, b_L], each with a leading
        replica axis; :meth:`predict_logit` evaluates it.
    posterior_mean_ : list of ndarray
        Posterior mean of the same parameters (variational mean, or the mean of
        the NUTS draws).
    variational_params_ : dict of ndarray
        Flat ``{"mu": ..., "rho": ...}`` (mean-field) or ``{"mu": ...,
        "L_tril": ...}`` (full-rank), in PyMC's layout; empty after NUTS.
    standardizer_ : Standardizer
        Shift and scale of the features, fitted on the ``X`` of each fit.
    n_features_in_ : int
    n_replicas_ : int
    history_ : dict of ndarray
        ``"elbo"``: the per-step ELBO estimate (one minibatch, one Monte Carlo
        draw, closed-form KL; NaN once the replica has stopped) and
        ``"learning_rate"``: the replica's Adam step (0 once stopped), of shape
        (n_steps_, n_replicas) for 2-D weights and (n_steps_,) for 1-D weights.
        After NUTS, ``"diverging"``: the count of divergent transitions and
        ``"rhat"``: the largest split R-hat, per replica.
    n_steps_ : int
        ADVI steps run, until the last replica stopped (NUTS: tuning plus
        draws per chain).
    converged_ : bool or ndarray of bool
        Whether the convergence rule was met (per replica for 2-D weights);
        after NUTS, whether every R-hat is below 1.01 with no divergence.
    compile_time_ : float
        Seconds spent building and compiling the model and its ADVI step in
        the last ``fit`` (near 0 when cached; NUTS compiles inside
        ``pm.sample``, which counts in ``fit_time_`` only).
    fit_time_ : float
        Seconds spent in the last ``fit``.
    predictive_seed_ : int
        Seed of the default draws of :meth:`predict_logit_mean`.
    """

    def __init__(
        self,
        hidden_layers: Sequence[int] = DEFAULT_HIDDEN_LAYERS,
        *,
        activation: str = DEFAULT_ACTIVATION,
        prior_scale: float = DEFAULT_PRIOR_SCALE,
        bias_prior_scale: float = DEFAULT_BIAS_PRIOR_SCALE,
        method: str = "advi",
        learning_rate: float = DEFAULT_LEARNING_RATE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_steps: int = DEFAULT_MAX_STEPS,
        check_every: int = DEFAULT_CHECK_EVERY,
        elbo_rtol: float = DEFAULT_ELBO_RTOL,
        param_tol: float = DEFAULT_PARAM_TOL,
        nuts_draws: int = DEFAULT_NUTS_DRAWS,
        nuts_tune: int = DEFAULT_NUTS_TUNE,
        nuts_chains: int = DEFAULT_NUTS_CHAINS,
        nuts_sampler: str = "pymc",
        warm_start: bool = False,
        prediction: str = "draw",
        dtype: str = DEFAULT_DTYPE,
        backend: str = DEFAULT_BACKEND,
        blas_threads: int | None = DEFAULT_BLAS_THREADS,
        progressbar: bool = False,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.prior_scale = prior_scale
        self.bias_prior_scale = bias_prior_scale
        self.method = method
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.check_every = check_every
        self.elbo_rtol = elbo_rtol
        self.param_tol = param_tol
        self.nuts_draws = nuts_draws
        self.nuts_tune = nuts_tune
        self.nuts_chains = nuts_chains
        self.nuts_sampler = nuts_sampler
        self.warm_start = warm_start
        self.prediction = prediction
        self.dtype = dtype
        self.backend = backend
        self.blas_threads = blas_threads
        self.progressbar = progressbar
        self.random_state = random_state

    def fit(
        self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None
    ) -> Self:
        """Fit the posterior of one network per row of ``sample_weight``.

        Parameters
        ----------
        X : array_like, shape (n_events, n_features)
        y : array_like, shape (n_events,)
            Labels 0 and 1, both present.
        sample_weight : array_like, shape (n_events,) or (n_replicas, n_events)
            Non-negative likelihood weights, used as given (their scale tempers
            the likelihood; see :func:`normalize_class_weights`); 1 by default.
            2-D weights fit one independent posterior per row.

        Returns
        -------
        self : BayesianMLPClassifier
        """
        start = time.perf_counter()
        self._check_settings()
        data = check_training_data(X, y, sample_weight)
        # Separate streams, so that the kept draw does not depend on how many
        # steps the fit took.
        seeds = resolve_rng(self.random_state).integers(2**63, size=2)
        rng, draw_rng = (np.random.default_rng(seed) for seed in seeds)
        standardizer = Standardizer.fit(data.X)

        with blas_threads(self.blas_threads):
            compiling = time.perf_counter()
            model = _model_for(self._layout(data))
            vi = None
            if self.method != "nuts":
                vi = model.variational(self.method)
            compile_time = time.perf_counter() - compiling
            model.set_data(standardizer.transform(data.X), data.y, data.weights)
            try:
                if vi is None:
                    fit = self._sample_nuts(model, rng)
                else:
                    fit = self._run_advi(vi, model, data, rng)
            finally:
                model.clear_data()

        self._store(data, standardizer, fit, draw_rng)
        self.compile_time_ = compile_time
        self.fit_time_ = time.perf_counter() - start
        self._log_summary(data)
        if not np.all(fit.converged):
            warnings.warn(
                self._convergence_message(fit), ConvergenceWarning, stacklevel=2
            )
        return self

    def predict_logit(self, X: ArrayLike) -> NDArray[np.float64]:
        """Logits of the kept posterior draw (or at the posterior mean).

        Returns
        -------
        ndarray, shape (n_events,) or (n_replicas, n_events)
            Replica r's logits under its own draw, or with
            ``prediction="mean"`` at its posterior-mean parameters;
            deterministic between calls.
        """
        Z = self._features(X)
        params = self.posterior_mean_ if self.prediction == "mean" else self.draw_
        logits = self._logits(Z, params)
        return logits if self._replicated else logits[0]

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Probability of class 1 under the kept draw, shaped as ``predict_logit``."""
        return np.asarray(expit(self.predict_logit(X)), dtype=np.float64)

    def sample_logit(
        self,
        X: ArrayLike,
        draws: int,
        random_state: int | np.random.Generator | None = None,
    ) -> NDArray[np.float64]:
        """Logits under fresh draws from the (approximate) posterior.

        Parameters
        ----------
        X : array_like, shape (n_events, n_features)
        draws : int
            Posterior draws per replica.
        random_state : int, numpy.random.Generator or None
            Seeds the draws.

        Returns
        -------
        ndarray, shape (draws, n_replicas, n_events) or (draws, n_events)
        """
        Z = self._features(X)
        _check_count("draws", draws)
        rng = resolve_rng(random_state)
        logits = np.concatenate(list(self._sampled_logits(Z, int(draws), rng)))
        return logits if self._replicated else logits[:, 0]

    def predict_logit_mean(
        self,
        X: ArrayLike,
        *,
        draws: int = DEFAULT_PREDICTIVE_DRAWS,
        random_state: int | np.random.Generator | None = None,
    ) -> NDArray[np.float64]:
        r"""Logit of the posterior predictive probability of class 1.

        Returns :math:`\operatorname{logit} \bar p(x)` with
        :math:`\bar p(x) = E_{\theta}[\sigma(f_\theta(x))]`, the Bayesian
        model average, estimated from ``draws`` posterior draws and computed in
        log space (not the logit at the posterior-mean parameters, which for a
        nonlinear network is no average of anything). With the default
        ``random_state`` the draws are those fixed at fit time, so repeated
        calls agree.

        Returns
        -------
        ndarray, shape (n_events,) or (n_replicas, n_events)
        """
        Z = self._features(X)
        _check_count("draws", draws)
        seed = self.predictive_seed_ if random_state is None else random_state
        log_p = np.full((self.n_replicas_, Z.shape[0]), -np.inf)
        log_not_p = log_p.copy()
        # Accumulated over chunks of draws: the (draws, replicas, events) array
        # of all logits need not fit in memory.
        for logits in self._sampled_logits(Z, int(draws), resolve_rng(seed)):
            log_p = np.logaddexp(log_p, logsumexp(-np.logaddexp(0.0, -logits), 0))
            log_not_p = np.logaddexp(
                log_not_p, logsumexp(-np.logaddexp(0.0, logits), 0)
            )
        mean_logit = log_p - log_not_p
        return mean_logit if self._replicated else mean_logit[0]

    # -- fitting -------------------------------------------------------------

    def _run_advi(
        self,
        vi: _Variational,
        model: _CompiledModel,
        data: TrainingData,
        rng: np.random.Generator,
    ) -> _Fit:
        start, warm = self._starting_point(model, data, rng)
        rate = float(self.learning_rate) * (WARM_START_RATE_FRACTION if warm else 1.0)
        vi.reset(start, rate, rng)
        schedule = _Schedule(
            learning_rate=float(self.learning_rate),
            batch_size=int(self.batch_size),
            max_steps=int(self.max_steps),
            check_every=int(self.check_every),
            elbo_rtol=float(self.elbo_rtol),
            param_tol=float(self.param_tol),
        )
        return _optimise(vi, model, data.X.shape[0], schedule, rng)

    def _starting_point(
        self, model: _CompiledModel, data: TrainingData, rng: np.random.Generator
    ) -> tuple[dict[str, NDArray[np.floating]], bool]:
        """Variational parameters to start from, and whether they are a warm start.

        A warm start begins from the previous fit's parameters, or from them
        repeated (:meth:`_repeated_start`); otherwise the start is fresh.
        """
        previous = getattr(self, "variational_params_", {})
        if self.warm_start and self._warm_start_fits(model, previous):
            return previous, True
        repeated = self._repeated_start(model, previous) if self.warm_start else None
        if repeated is not None:
            return repeated, True
        if self.warm_start and previous:
            logger.info(
                "warm_start: the previous fit does not match this one (method, "
                "features or replicas differ); starting afresh."
            )
        init = initial_parameters(
            rng, model.layout.shapes, model.layout.n_replicas, self.activation
        )
        return model.initial_variational(self.method, init), False

    def _repeated_start(
        self, model: _CompiledModel, previous: dict[str, NDArray[np.floating]]
    ) -> dict[str, NDArray[np.floating]] | None:
        """The previous mean-field fit with each replica repeated K times.

        Where the new fit has K times the replicas of the previous one (as
        OmniFold's last step 2 after ``final_draws``), new replica r K + k
        starts from old replica r. None where that does not apply.
        """
        key = getattr(self, "_previous_key", None)
        if not previous or key is None or key[0] != "advi" or self.method != "advi":
            return None
        old, new = key[1], model.layout
        if dataclasses.replace(old, n_replicas=new.n_replicas) != new:
            return None
        if new.n_replicas % old.n_replicas:
            return None
        repeats = new.n_replicas // old.n_replicas
        old_slices = _model_for(old).variational("advi").slices
        new_slices = model.variational("advi").slices
        size = max(slc.stop for slc in new_slices)
        start = {}
        for name, flat in previous.items():
            values = np.empty(size, dtype=flat.dtype)
            for old_slc, new_slc in zip(old_slices, new_slices, strict=True):
                block = flat[old_slc].reshape(old.n_replicas, -1)
                values[new_slc] = np.repeat(block, repeats, axis=0).ravel()
            start[name] = values
        return start

    def _warm_start_fits(
        self, model: _CompiledModel, previous: dict[str, NDArray[np.floating]]
    ) -> bool:
        return bool(previous) and getattr(self, "_previous_key", None) == (
            self.method,
            model.layout,
        )

    def _sample_nuts(self, model: _CompiledModel, rng: np.random.Generator) -> _Fit:
        seed = int(rng.integers(2**31))
        samples, diverging, rhat = model.sample_nuts(
            draws=int(self.nuts_draws),
            tune=int(self.nuts_tune),
            chains=int(self.nuts_chains),
            sampler=self.nuts_sampler,
            seed=seed,
            progressbar=self.progressbar,
        )
        converged = (rhat < NUTS_RHAT_THRESHOLD) & (diverging == 0)
        return _Fit(
            posterior=_SamplePosterior(samples),
            history={"diverging": diverging.astype(np.float64), "rhat": rhat},
            n_steps=int(self.nuts_tune) + int(self.nuts_draws),
            converged=converged,
            variational_params={},
        )

    def _store(
        self,
        data: TrainingData,
        standardizer: Standardizer,
        fit: _Fit,
        rng: np.random.Generator,
    ) -> None:
        pick = (lambda a: a) if data.replicated else (lambda a: a[..., 0])
        self._posterior = fit.posterior
        self.draw_ = [p[0] for p in fit.posterior.sample(rng, 1)]
        self.posterior_mean_ = fit.posterior.mean()
        self.variational_params_ = fit.variational_params
        self._previous_key = (self.method, self._layout(data))
        self.predictive_seed_ = int(rng.integers(2**31))
        self.standardizer_ = standardizer
        self.n_features_in_ = int(data.X.shape[1])
        self.n_replicas_ = data.n_replicas
        self._replicated = data.replicated
        self.history_ = {key: pick(value) for key, value in fit.history.items()}
        self.n_steps_ = fit.n_steps
        self.converged_ = pick(fit.converged)
        if not data.replicated:
            self.converged_ = bool(self.converged_)

    # -- prediction ----------------------------------------------------------

    def _features(self, X: ArrayLike) -> NDArray[np.float64]:
        if not hasattr(self, "draw_"):
            raise NotFittedError(
                "This BayesianMLPClassifier is not fitted yet; call fit(X, y, "
                "sample_weight=...) first."
            )
        features = check_features(X, self.n_features_in_)
        return self.standardizer_.transform(features)

    def _logits(
        self, Z: NDArray[np.float64], params: Sequence[NDArray[np.floating]]
    ) -> NDArray[np.float64]:
        """Logits (n_networks, n_events) of networks stacked on the leading axis."""
        layout = _ForwardLayout(
            self.n_features_in_,
            tuple(int(k) for k in self.hidden_layers),
            self.activation,
            self.dtype,
            self.backend,
        )
        return _forward_for(layout)(Z, params)

    def _sampled_logits(
        self, Z: NDArray[np.float64], draws: int, rng: np.random.Generator
    ) -> Iterator[NDArray[np.float64]]:
        """Logits (k, n_replicas, n_events) of successive chunks of k draws."""
        n_replicas, n_events = self.n_replicas_, Z.shape[0]
        per_draw = max(self._posterior.n_params, n_replicas * n_events)
        size = max(1, DRAW_CHUNK_ELEMENTS // per_draw)
        for start in range(0, draws, size):
            k = min(size, draws - start)
            params = self._posterior.sample(rng, k)
            stacked = [p.reshape(-1, *p.shape[2:]) for p in params]
            yield self._logits(Z, stacked).reshape(k, n_replicas, n_events)

    # -- settings ------------------------------------------------------------

    def _layout(self, data: TrainingData) -> _ModelLayout:
        return _ModelLayout(
            n_features=int(data.X.shape[1]),
            hidden_layers=tuple(int(k) for k in self.hidden_layers),
            activation=self.activation,
            n_replicas=data.n_replicas,
            prior_scale=float(self.prior_scale),
            bias_prior_scale=float(self.bias_prior_scale),
            # NUTS needs double precision for its energy and its step size.
            dtype="float64" if self.method == "nuts" else self.dtype,
            backend=self.backend,
        )

    def _check_settings(self) -> None:
        check_architecture(self.hidden_layers, self.activation)
        check_backend(self.backend)
        if self.method not in METHODS:
            raise ConfigurationError(
                f"method must be one of {METHODS}; got {self.method!r}."
            )
        if self.dtype not in DTYPES:
            raise ConfigurationError(
                f"dtype must be one of {DTYPES}; got {self.dtype!r}."
            )
        for name in ("prior_scale", "bias_prior_scale", "learning_rate"):
            _check_positive(name, getattr(self, name))
        for name in ("elbo_rtol", "param_tol"):
            _check_positive(name, getattr(self, name))
        for name in ("batch_size", "max_steps", "check_every", "nuts_draws"):
            _check_count(name, getattr(self, name))
        for name in ("nuts_tune", "nuts_chains"):
            _check_count(
                name, getattr(self, name), minimum=0 if name == "nuts_tune" else 1
            )
        if self.nuts_sampler not in NUTS_SAMPLERS:
            raise ConfigurationError(
                f"nuts_sampler must be one of {NUTS_SAMPLERS}; got "
                f"{self.nuts_sampler!r}."
            )
        if self.prediction not in PREDICTIONS:
            raise ConfigurationError(
                f"prediction must be one of {PREDICTIONS}; got {self.prediction!r}."
            )
        if self.blas_threads is not None:
            _check_count("blas_threads", self.blas_threads)

    def _log_summary(self, data: TrainingData) -> None:
        logger.info(
            "BayesianMLPClassifier (%s) fitted %d replica(s) on %d events in "
            "%.2f s (%.2f s compiling): %d steps, %d of %d converged.",
            self.method,
            data.n_replicas,
            data.X.shape[0],
            self.fit_time_,
            self.compile_time_,
            self.n_steps_,
            np.count_nonzero(self.converged_),
            np.size(self.converged_),
        )

    def _convergence_message(self, fit: _Fit) -> str:
        stuck = np.flatnonzero(~np.atleast_1d(fit.converged))
        if self.method == "nuts":
            return (
                f"NUTS did not converge for replica(s) {stuck[:10].tolist()}: "
                f"largest R-hat {fit.history['rhat'].max():.3f} (needs < "
                f"{NUTS_RHAT_THRESHOLD}), {int(fit.history['diverging'].sum())} "
                "divergences. Raise nuts_tune and nuts_draws, or simplify the "
                "network."
            )
        return (
            f"ADVI stopped at max_steps={self.max_steps} before its convergence "
            f"rule was met for replica(s) {stuck[:10].tolist()}. Raise "
            "max_steps, or loosen elbo_rtol and param_tol."
        )


# -- the compiled model ------------------------------------------------------


@dataclass(frozen=True)
class _ModelLayout:
    """What a compiled model depends on (not on events, weights or seeds)."""

    n_features: int
    hidden_layers: tuple[int, ...]
    activation: str
    n_replicas: int
    prior_scale: float
    bias_prior_scale: float
    dtype: str
    backend: str

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return layer_shapes(self.n_features, self.hidden_layers)

    @property
    def names(self) -> list[str]:
        """Names of the parameters in network order: W1, b1, ..., WL, bL."""
        n_layers = len(self.shapes)
        return [f"{kind}{layer}" for layer in range(1, n_layers + 1) for kind in "Wb"]


class _CompiledModel:
    """The PyMC model of one layout, with its data held in shared variables.

    ADVI steps are compiled on first use, once per method.
    """

    def __init__(self, layout: _ModelLayout) -> None:
        self.layout = layout
        self.mode = compile_mode(layout.backend)
        with pytensor.config.change_flags(floatX=layout.dtype):
            self.model, self.loglik, index = _build_model(layout)
        self.data = {name: self.model[name] for name in _DATA_NAMES}
        self.data["batch_index"] = index
        self._variational: dict[str, _Variational] = {}

    def set_data(
        self, Z: NDArray[np.float64], y: NDArray[np.bool_], weights: NDArray[np.float64]
    ) -> None:
        dtype, backend = self.layout.dtype, resolve_backend(self.layout.backend)
        set_shared(self.data["X"], np.ascontiguousarray(Z, dtype=dtype), backend)
        set_shared(self.data["y"], y.astype(dtype), backend)
        set_shared(
            self.data["sample_weight"],
            np.ascontiguousarray(weights, dtype=dtype),
            backend,
        )
        self.set_batch(np.arange(Z.shape[0]))

    def set_batch(self, index: NDArray[np.integer]) -> None:
        self.data["batch_index"].set_value(index.astype(np.int32, copy=False))

    def clear_data(self) -> None:
        """Release the events (keeping the types) so that memory stays bounded."""
        dtype = self.layout.dtype
        n_features = self.layout.n_features
        self.data["X"].set_value(np.zeros((1, n_features), dtype=dtype))
        self.data["y"].set_value(np.zeros(1, dtype=dtype))
        self.data["sample_weight"].set_value(
            np.zeros((self.layout.n_replicas, 1), dtype=dtype)
        )
        self.set_batch(np.zeros(1, dtype=np.int32))

    def variational(self, method: str) -> _Variational:
        if method not in self._variational:
            self._variational[method] = _Variational(self, method)
        return self._variational[method]

    def initial_variational(
        self, method: str, init: Sequence[NDArray[np.floating]]
    ) -> dict[str, NDArray[np.floating]]:
        """Fresh variational parameters around the network initialisation ``init``."""
        mu = np.concatenate([p.ravel() for p in init])
        prior_sigma = np.concatenate(
            [np.full(p.size, s) for p, s in zip(init, self.prior_sigmas(), strict=True)]
        )
        rho = _sigma_to_rho(INITIAL_SIGMA_FRACTION * prior_sigma)
        if method == "advi":
            return {"mu": mu, "rho": rho}
        rows, cols = np.tril_indices(mu.size)
        L_tril = np.where(rows == cols, rho[rows], 0.0).astype(np.float64)
        return {"mu": mu, "L_tril": L_tril}

    def prior_sigmas(self) -> list[float]:
        """Prior standard deviation of each parameter tensor, in network order."""
        gain = FAN_IN_GAIN[self.layout.activation]
        sigmas = []
        for fan_in, _ in self.layout.shapes:
            sigmas += [self.layout.prior_scale * gain / math.sqrt(fan_in)]
            sigmas += [self.layout.bias_prior_scale]
        return sigmas

    def sample_nuts(
        self,
        *,
        draws: int,
        tune: int,
        chains: int,
        sampler: str,
        seed: int,
        progressbar: bool,
    ) -> tuple[list[NDArray[np.float64]], NDArray[np.int64], NDArray[np.float64]]:
        """NUTS on all events: draws of each parameter, divergences, R-hat.

        The draws have shape (chains x draws, n_replicas, ...); divergences
        and the largest R-hat are per replica.
        """
        from arviz_stats import rhat

        # NUTS compiles without JAX (below), and Numba rejects the read-only
        # buffers of JAX arrays: give the events back to NumPy.
        for name in _DATA_NAMES:
            shared = self.data[name]
            shared.set_value(np.array(shared.get_value()))
        with self.model:
            trace = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=1,
                random_seed=seed,
                progressbar=progressbar,
                nuts_sampler=sampler,
                compute_convergence_checks=False,
                # NUTS's small graphs compile faster than they run under JAX.
                compile_kwargs={"mode": compile_mode(self.layout.backend, jax=False)},
                blas_cores=None,
            )
        by_chain = [
            np.asarray(trace["posterior"][name].values) for name in self.layout.names
        ]
        diverging = np.asarray(trace["sample_stats"]["diverging"].values).sum()
        rhats = [
            np.asarray(rhat(p, chain_axis=0, draw_axis=1))
            .reshape(p.shape[2], -1)
            .max(1)
            for p in by_chain
        ]
        samples = [p.reshape(-1, *p.shape[2:]).astype(np.float64) for p in by_chain]
        n_replicas = self.layout.n_replicas
        # The replicas share the sampler, so its divergences count against each.
        divergences = np.full(n_replicas, int(diverging))
        return samples, divergences, np.max(rhats, axis=0)


_DATA_NAMES = ("X", "y", "sample_weight")


def _build_model(
    layout: _ModelLayout,
) -> tuple[pm.Model, pt.TensorVariable, pytensor.compile.SharedVariable]:
    """The Bayesian network and its weighted likelihood per replica, shape (R,)."""
    R, dtype = layout.n_replicas, layout.dtype
    with pm.Model() as model:
        X = pm.Data("X", np.zeros((1, layout.n_features), dtype=dtype))
        y = pm.Data("y", np.zeros(1, dtype=dtype))
        weights = pm.Data("sample_weight", np.zeros((R, 1), dtype=dtype))
        # Not a pm.Data: that would narrow the integer type to fit its value.
        # int32, which JAX keeps without its 64-bit mode.
        index = pytensor.shared(np.zeros(1, dtype=np.int32), name="batch_index")

        gain = FAN_IN_GAIN[layout.activation]
        params = []
        for layer, (fan_in, fan_out) in enumerate(layout.shapes, start=1):
            sigma = layout.prior_scale * gain / math.sqrt(fan_in)
            params.append(
                pm.Normal(f"W{layer}", 0.0, sigma, shape=(R, fan_in, fan_out))
            )
            params.append(
                pm.Normal(f"b{layer}", 0.0, layout.bias_prior_scale, shape=(R, fan_out))
            )

        logits = forward(X[index], params, layout.activation)
        # y f - softplus(f) = -softplus((1 - 2y) f): one softplus per event.
        log_p = -pt.softplus((1 - 2 * y[index])[None, :] * logits)
        scale = pt.cast(X.shape[0], dtype) / pt.cast(index.shape[0], dtype)
        loglik = scale * (weights[:, index] * log_p).sum(axis=1)
        pm.Potential("weighted_loglik", loglik)
    return model, loglik, index


# -- variational inference ---------------------------------------------------


class _Variational:
    """A compiled ADVI step for one model and variational family.

    The step returns each replica's negative ELBO estimate,

        KL(q_r || prior) - log p(y | theta_r),   theta_r ~ q_r,

    the KL divergence in closed form (Gaussian prior and Gaussian q) and the
    weighted log-likelihood at one draw on the current minibatch (scaled to
    the full sample). Adam follows the gradient of their sum, each replica
    with its own step size, so that a replica can slow down or stop without
    touching the others. The step also adds the variational parameters to
    running sums, from which the convergence rule and the final posterior take
    window averages (Polyak-Ruppert averaging, which removes most of the
    jitter of a constant step size).
    """

    def __init__(self, model: _CompiledModel, method: str) -> None:
        start = time.perf_counter()
        self.method = method
        self.layout = model.layout
        R, dtype = model.layout.n_replicas, model.layout.dtype
        with pytensor.config.change_flags(floatX=dtype), model.model:
            approx = pm.MeanField() if method == "advi" else pm.FullRank()
            group = approx.groups[0]
            self.slices = [group.ordering[name][1] for name in model.layout.names]
            self.params = dict(group.params_dict)
            self.owner = _replica_of_each_value(self.params, self.slices, R)
            self.noise = pytensor.shared(
                np.zeros((1, group.ddim), dtype=dtype), name="advi_noise"
            )
            loss = _replica_loss(model, approx, self.slices, self.noise)

            self.rates = pytensor.shared(np.zeros(R, dtype=dtype), name="rates")
            gradients = cast(
                list[Any], pytensor.grad(pt.sum(loss), list(self.params.values()))
            )
            updates: dict[Any, Any] = {}
            for (name, param), gradient in zip(
                self.params.items(), gradients, strict=True
            ):
                rate = self.rates[self.owner[name]]
                updates.update(pm.adam([gradient], [param], learning_rate=rate))
            self.sums = {
                name: pytensor.shared(np.zeros_like(p.get_value()), name=f"{name}_sum")
                for name, p in self.params.items()
            }
            for name, total in self.sums.items():
                updates[total] = total + self.params[name]
            self._step = quiet_jax(
                pm_compile([], loss, updates=updates, mode=model.mode)
            )
        managed = [*self.params.values(), *self.sums.values()]
        self.optimizer_state = [var for var in updates if var not in managed]
        self._noise_rng = np.random.default_rng(0)
        # Numba compiles on the first call: make it here, on the placeholder
        # data, so that compile_time_ counts it (reset() undoes its update).
        self._step()
        self.compile_time = time.perf_counter() - start
        logger.debug(
            "Compiled the %s step of %s in %.2f s.",
            method,
            model.layout,
            self.compile_time,
        )

    def reset(
        self,
        start: dict[str, NDArray[np.floating]],
        learning_rate: float,
        rng: np.random.Generator,
    ) -> None:
        """Start from ``start``, with a fresh optimiser and reseeded draws."""
        dtype = self.layout.dtype
        self.set_rates(np.full(self.layout.n_replicas, learning_rate))
        for name, shared in self.params.items():
            shared.set_value(np.asarray(start[name], dtype=dtype))
        for shared in [*self.optimizer_state, *self.sums.values()]:
            shared.set_value(np.zeros_like(shared.get_value()))
        self._noise_rng = np.random.default_rng(int(rng.integers(2**63)))

    def step(self) -> NDArray[np.floating]:
        noise = self._noise_rng.standard_normal(
            self.noise.get_value(borrow=True).shape, dtype=np.float32
        )
        self.noise.set_value(noise.astype(self.layout.dtype, copy=False), borrow=True)
        # As a NumPy array: indexing a JAX array from Python dispatches a
        # gather each time, which cost more than the step itself.
        return np.asarray(self._step())

    def get_rates(self) -> NDArray[np.float64]:
        """Adam step size of each replica (0 once it has converged)."""
        return np.asarray(self.rates.get_value(), dtype=np.float64)

    def set_rates(self, rates: NDArray[np.float64]) -> None:
        self.rates.set_value(np.asarray(rates, dtype=self.layout.dtype))

    def window_average(self, steps: int) -> dict[str, NDArray[np.float64]]:
        """Average parameters over the last ``steps`` steps; restarts the sums."""
        averages = {}
        for name, total in self.sums.items():
            averages[name] = np.asarray(total.get_value(), dtype=np.float64) / steps
            total.set_value(np.zeros_like(total.get_value()))
        return averages

    def mean_and_scale(
        self, values: dict[str, NDArray[np.float64]]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Flat mean, and the scale: sigma (mean-field) or L (full-rank)."""
        if self.method == "advi":
            return values["mu"], _rho_to_sigma(values["rho"])
        return values["mu"], _cholesky_factor(values["L_tril"])


def _replica_of_each_value(
    params: dict[str, Any], slices: Sequence[slice], R: int
) -> dict[str, NDArray[np.int64]]:
    """Replica that owns each entry of each variational parameter.

    Every parameter tensor has the replica on its leading axis, so within its
    slice of the flat vector the replica is the position over the size per
    replica. An entry of the full-rank factor L belongs to the replica of its
    row: those rows make the replica's marginal covariance.
    """
    n = max(slc.stop for slc in slices)
    owner = np.empty(n, dtype=np.int64)
    for slc in slices:
        size = slc.stop - slc.start
        owner[slc] = np.arange(size) // (size // R)
    owners = {"mu": owner, "rho": owner}
    if "L_tril" in params:
        rows, _ = np.tril_indices(n)
        owners["L_tril"] = owner[rows]
    return {name: owners[name] for name in params}


def _replica_loss(
    model: _CompiledModel,
    approx: Any,
    slices: Sequence[slice],
    noise: pytensor.compile.SharedVariable,
) -> pt.TensorVariable:
    """Negative ELBO per replica, shape (R,), at the draw of ``approx`` that the
    standard normal ``noise`` (shape (1, n_parameters)) gives."""
    R = model.layout.n_replicas
    group = approx.groups[0]
    (loglik,) = model.model.replace_rvs_by_values([model.loglik])
    loglik = approx.symbolic_single_sample(loglik)
    # The standard normal draw behind theta_r ~ q_r comes in from NumPy (see
    # _Variational.step), not from a random generator inside the graph.
    loglik = graph_replace(loglik, {group.symbolic_initial: noise}, strict=False)

    # KL(N(mu, sigma^2) || N(0, s^2)) per coordinate; the full-rank version has
    # the same form with log|L| from its diagonal and sigma^2 from diag(L L^T).
    prior_sd = np.empty(max(slc.stop for slc in slices), dtype=model.layout.dtype)
    for slc, sd in zip(slices, model.prior_sigmas(), strict=True):
        prior_sd[slc] = sd
    if isinstance(group, FullRankGroup):
        L = group.L
        log_sigma, variance = pt.log(pt.diagonal(L)), (L**2).sum(axis=1)
    else:
        sigma = group.std
        log_sigma, variance = pt.log(sigma), sigma**2
    kl = (
        np.log(prior_sd)
        - log_sigma
        + (variance + group.mean**2) / (2 * prior_sd**2)
        - 0.5
    )
    kl_replica = pt.add(*[kl[slc].reshape((R, -1)).sum(axis=1) for slc in slices])
    return kl_replica - loglik


@dataclass(frozen=True)
class _Schedule:
    learning_rate: float
    batch_size: int
    max_steps: int
    check_every: int
    elbo_rtol: float
    param_tol: float


def _optimise(
    vi: _Variational,
    model: _CompiledModel,
    n_events: int,
    schedule: _Schedule,
    rng: np.random.Generator,
) -> _Fit:
    """Adam steps on minibatches until every replica converges or the budget ends.

    A replica that converges stops moving (its step size drops to zero) and
    keeps its parameters of that moment, so that its result does not depend
    on how long the other replicas take.
    """
    R = model.layout.n_replicas
    losses = np.full((schedule.max_steps, R), np.nan)
    rates = np.zeros((schedule.max_steps, R))
    per_pass = _steps_per_pass(n_events, schedule.batch_size)
    window = per_pass * math.ceil(schedule.check_every / per_pass)
    monitor = _ConvergenceMonitor(vi, schedule, window, per_pass)
    batches = _minibatches(n_events, schedule.batch_size, rng)
    n_steps = 0
    for n_steps in range(1, schedule.max_steps + 1):
        index = next(batches)
        if index is not None:
            model.set_batch(index)
        active = ~monitor.converged
        rates[n_steps - 1] = vi.get_rates()
        losses[n_steps - 1, active] = vi.step()[active]
        if n_steps % window == 0 and monitor.check(losses[:n_steps]):
            break
    if not np.all(np.isfinite(losses[:n_steps]) | np.isnan(losses[:n_steps])):
        raise FloatingPointError(
            "ADVI produced an infinite ELBO; lower learning_rate, or check the "
            "weights for extreme values."
        )
    final = monitor.final_average(n_steps)
    mean, scale = vi.mean_and_scale(final)
    posterior = _GaussianPosterior(mean, scale, vi.slices, _shapes(model.layout))
    return _Fit(
        posterior=posterior,
        history={"elbo": -losses[:n_steps], "learning_rate": rates[:n_steps]},
        n_steps=n_steps,
        converged=monitor.converged,
        variational_params=final,
    )


def _steps_per_pass(n_events: int, batch_size: int) -> int:
    return max(1, math.ceil(n_events / batch_size))


def _minibatches(
    n_events: int, batch_size: int, rng: np.random.Generator
) -> Iterator[NDArray[np.int64] | None]:
    """Index arrays of passes over the events, each in a fresh random order.

    A pass is split into :func:`_steps_per_pass` batches of nearly equal size
    (at most ``batch_size``), so that a window of whole passes sees every
    event equally often. Yields one full index and then ``None`` (nothing to
    change) when one batch covers the sample.
    """
    if batch_size >= n_events:
        yield np.arange(n_events)
        while True:
            yield None
    n_batches = _steps_per_pass(n_events, batch_size)
    while True:
        yield from np.array_split(rng.permutation(n_events), n_batches)


class _ConvergenceMonitor:
    """The ELBO and parameter rule of the module notes, per replica.

    Parameters are compared as averages over consecutive windows, so that the
    rule measures their drift rather than the jitter of each step. A replica
    that passes is frozen, and its window average kept as its result.
    """

    def __init__(
        self, vi: _Variational, schedule: _Schedule, window: int, steps_per_pass: int
    ) -> None:
        self.vi = vi
        self.schedule = schedule
        self.window = window
        self.steps_per_pass = steps_per_pass
        self.converged = np.zeros(vi.layout.n_replicas, dtype=bool)
        self._previous: dict[str, NDArray[np.float64]] | None = None
        self._kept: dict[str, NDArray[np.float64]] = {}
        self._checked_at = 0

    def check(self, losses: NDArray[np.float64]) -> bool:
        """Update ``converged`` from the losses so far; True when all have."""
        window = self.window
        self._checked_at = losses.shape[0]
        current = self.vi.window_average(window)
        previous, self._previous = self._previous, current
        if previous is None:
            self._keep(current, ~self.converged)
            return False
        running = ~self.converged
        elbo_flat = _elbo_flat(
            losses[-2 * window :], self.steps_per_pass, self.schedule.elbo_rtol
        )
        moved = self._parameter_change(previous, current)
        rates = self.vi.get_rates()
        at_floor = rates <= self._floor() * (1 + 1e-6)
        newly = running & elbo_flat & ((moved < self.schedule.param_tol) | at_floor)
        self._keep(current, running)
        self._freeze(newly)
        self._slow_down(running & elbo_flat & ~newly)
        logger.debug(
            "ADVI step %d: ELBO flat %s, parameter change %s, step sizes %s.",
            losses.shape[0],
            elbo_flat,
            np.round(moved, 3),
            rates,
        )
        return bool(self.converged.all())

    def final_average(self, n_steps: int) -> dict[str, NDArray[np.float64]]:
        """Kept averages, updated for running replicas by any steps since."""
        since = n_steps - self._checked_at
        if since > 0:
            self._keep(self.vi.window_average(since), ~self.converged)
        return self._kept

    def _keep(
        self, averages: dict[str, NDArray[np.float64]], replicas: NDArray[np.bool_]
    ) -> None:
        if not self._kept:
            self._kept = {name: value.copy() for name, value in averages.items()}
            return
        for name, value in averages.items():
            mine = replicas[self.vi.owner[name]]
            self._kept[name][mine] = value[mine]

    def _freeze(self, replicas: NDArray[np.bool_]) -> None:
        self.converged |= replicas
        self.vi.set_rates(np.where(replicas, 0.0, self.vi.get_rates()))

    def _floor(self) -> float:
        return self.schedule.learning_rate * MIN_LEARNING_RATE_FRACTION

    def _slow_down(self, replicas: NDArray[np.bool_]) -> None:
        """On a plateau of the ELBO, halve the step (down to its floor)."""
        rates = self.vi.get_rates()
        lower = np.maximum(rates * LEARNING_RATE_DECAY, self._floor())
        self.vi.set_rates(np.where(replicas, lower, rates))

    def _parameter_change(
        self,
        previous: dict[str, NDArray[np.float64]],
        current: dict[str, NDArray[np.float64]],
    ) -> NDArray[np.float64]:
        """Per replica: the larger RMS move of mu (in sigmas) and of log sigma."""
        mu_before, scale_before = self.vi.mean_and_scale(previous)
        mu_now, scale_now = self.vi.mean_and_scale(current)
        sigma_now = _marginal_sigma(scale_now)
        mu_move = (mu_now - mu_before) / sigma_now
        log_sigma_move = np.log(sigma_now / _marginal_sigma(scale_before))
        R = self.vi.layout.n_replicas
        return np.maximum(
            _replica_rms(mu_move, self.vi.slices, R),
            _replica_rms(log_sigma_move, self.vi.slices, R),
        )


def _elbo_flat(
    losses: NDArray[np.float64], steps_per_pass: int, rtol: float
) -> NDArray[np.bool_]:
    """Per replica: has the mean loss stopped changing between two windows?

    ``losses`` holds two windows of whole passes over the events. Flat means a
    change below ``rtol`` of the loss or, where a window holds enough passes to
    tell, below twice the standard error of the change, estimated from the
    scatter of the pass means (each pass sees every event once, so the
    minibatch noise cancels within it and the pass means are independent).
    """
    window = losses.shape[0] // 2
    windows = losses.reshape(2, window // steps_per_pass, steps_per_pass, -1)
    pass_means = windows.mean(axis=2)
    means = pass_means.mean(axis=1)
    change = np.abs(means[1] - means[0])
    tolerance = rtol * np.abs(means[1])
    n_passes = pass_means.shape[1]
    if n_passes >= MIN_PASSES_FOR_NOISE:
        variance = pass_means.var(axis=1, ddof=1).sum(axis=0) / n_passes
        tolerance = np.maximum(tolerance, 2 * np.sqrt(variance))
    return np.asarray(change < tolerance)


def _replica_rms(flat: NDArray[np.float64], slices: Sequence[slice], R: int) -> Any:
    squares = sum((flat[slc].reshape(R, -1) ** 2).sum(axis=1) for slc in slices)
    count = sum(flat[slc].size for slc in slices) / R
    return np.sqrt(squares / count)


# -- posteriors ----------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    posterior: _GaussianPosterior | _SamplePosterior
    history: dict[str, NDArray[np.float64]]
    n_steps: int
    converged: NDArray[np.bool_]
    variational_params: dict[str, NDArray[np.float64]] = field(default_factory=dict)


@dataclass(frozen=True)
class _GaussianPosterior:
    """A Gaussian over the flat parameters: diagonal (sigma) or Cholesky (L) scale."""

    mu: NDArray[np.float64]
    scale: NDArray[np.float64]
    slices: list[slice]
    shapes: list[tuple[int, ...]]

    def sample(self, rng: np.random.Generator, draws: int) -> list[NDArray[np.float64]]:
        """Parameter draws, each of shape (draws, n_replicas, ...)."""
        z = rng.standard_normal((draws, self.mu.size))
        noise = z * self.scale if self.scale.ndim == 1 else z @ self.scale.T
        return self._unflatten(self.mu + noise)

    @property
    def n_params(self) -> int:
        return int(self.mu.size)

    def mean(self) -> list[NDArray[np.float64]]:
        return [p[0] for p in self._unflatten(self.mu[None, :])]

    def _unflatten(self, flat: NDArray[np.float64]) -> list[NDArray[np.float64]]:
        return [
            flat[:, slc].reshape(flat.shape[0], *shape)
            for slc, shape in zip(self.slices, self.shapes, strict=True)
        ]


@dataclass(frozen=True)
class _SamplePosterior:
    """Posterior draws (n_samples, n_replicas, ...) of each parameter tensor."""

    samples: list[NDArray[np.float64]]

    def sample(self, rng: np.random.Generator, draws: int) -> list[NDArray[np.float64]]:
        """Independent picks among the draws, separately for each replica."""
        n_samples, n_replicas = self.samples[0].shape[:2]
        pick = rng.integers(n_samples, size=(draws, n_replicas))
        replica = np.arange(n_replicas)[None, :]
        return [s[pick, replica] for s in self.samples]

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(s.shape[1:])) for s in self.samples)

    def mean(self) -> list[NDArray[np.float64]]:
        return [s.mean(axis=0) for s in self.samples]


def _shapes(layout: _ModelLayout) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    for fan_in, fan_out in layout.shapes:
        shapes += [(layout.n_replicas, fan_in, fan_out), (layout.n_replicas, fan_out)]
    return shapes


def _sigma_to_rho(sigma: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse of sigma = softplus(rho)."""
    return np.asarray(sigma + np.log(-np.expm1(-sigma)))


def _rho_to_sigma(rho: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.logaddexp(0.0, rho))


def _cholesky_factor(L_tril: NDArray[np.float64]) -> NDArray[np.float64]:
    """PyMC's full-rank scale L from its packed form (softplus on the diagonal)."""
    d = round((math.sqrt(8 * L_tril.size + 1) - 1) / 2)
    L = np.zeros((d, d))
    L[np.tril_indices(d)] = L_tril
    L[np.diag_indices(d)] = _rho_to_sigma(np.diag(L))
    return L


def _marginal_sigma(scale: NDArray[np.float64]) -> NDArray[np.float64]:
    return scale if scale.ndim == 1 else np.sqrt((scale**2).sum(axis=1))


# -- compiled-function caches ------------------------------------------------


_COMPILED = threading.local()


def _model_for(layout: _ModelLayout) -> _CompiledModel:
    """The model of ``layout``, built once per thread.

    Compiled functions and their shared variables hold state, so threads do not
    share them.
    """
    cache: dict[_ModelLayout, _CompiledModel] = _COMPILED.__dict__.setdefault(
        "models", {}
    )
    if layout not in cache:
        cache[layout] = _CompiledModel(layout)
    return cache[layout]


@dataclass(frozen=True)
class _ForwardLayout:
    n_features: int
    hidden_layers: tuple[int, ...]
    activation: str
    dtype: str
    backend: str


class _Forward:
    """Compiled logits of networks stacked on a leading axis, evaluated in chunks."""

    def __init__(self, layout: _ForwardLayout) -> None:
        shapes = layer_shapes(layout.n_features, layout.hidden_layers)
        X = pt.matrix("X", dtype=layout.dtype)
        params = []
        for fan_in, fan_out in shapes:
            params.append(pt.tensor3(dtype=layout.dtype, shape=(None, fan_in, fan_out)))
            params.append(pt.matrix(dtype=layout.dtype, shape=(None, fan_out)))
        logits = forward(X, params, layout.activation)
        # Under the graph's floatX, as the model is built: PyTensor's JAX
        # backend switches JAX's process-wide 64-bit mode on when it first
        # loads under floatX=float64, after which the float32 ADVI graphs mix
        # dtypes (a FutureWarning from JAX, an error in its later releases).
        with pytensor.config.change_flags(floatX=layout.dtype):
            function = pytensor.function(
                [X, *params], logits, mode=compile_mode(layout.backend)
            )
        self._function = quiet_jax(function)
        self.dtype = np.dtype(layout.dtype)
        self.max_width = max([*layout.hidden_layers, 1])

    def __call__(
        self, Z: NDArray[np.float64], params: Sequence[NDArray[np.floating]]
    ) -> NDArray[np.float64]:
        typed = [np.ascontiguousarray(p, dtype=self.dtype) for p in params]
        n_networks = typed[0].shape[0]
        chunk = max(1, PREDICT_CHUNK_ELEMENTS // (n_networks * self.max_width))
        pieces = [
            self._function(
                np.ascontiguousarray(Z[i : i + chunk], dtype=self.dtype), *typed
            )
            for i in range(0, Z.shape[0], chunk)
        ]
        return np.concatenate(pieces, axis=1).astype(np.float64)


def _forward_for(layout: _ForwardLayout) -> _Forward:
    cache: dict[_ForwardLayout, _Forward] = _COMPILED.__dict__.setdefault("forward", {})
    if layout not in cache:
        cache[layout] = _Forward(layout)
    return cache[layout]


# -- checks --------------------------------------------------------------------


def _check_positive(name: str, value: Any) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{name} must be a positive number; got {value!r}.")


def _check_count(name: str, value: Any, minimum: int = 1) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < minimum
    ):
        raise ConfigurationError(
            f"{name} must be an integer >= {minimum}; got {value!r}."
        )
