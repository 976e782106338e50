"""The OmniFold iteration (Andreassen et al., PRL 124 (2020) 182001).

For iteration n = 1..N, with push weights nu_0 = 1 (DESIGN.md, "The iteration"):

1. step 1: a classifier separates ``reco[pass_reco]`` weighted by
   ``nu_{n-1} * sim_weights`` (class 0) from ``data`` (class 1); the pull weight
   is ``omega_n = nu_{n-1} * r_1(reco)``;
2. step 1b: events failing ``pass_reco`` get the expected pull given ``gen``,
   learned on the passing events (``efficiency="learn"``), or keep nu_{n-1};
3. step 2: a classifier separates ``gen[pass_gen]`` weighted by the reference
   (the prior or nu_{n-1}) from the same events weighted by ``omega_n``; the push
   weight is ``nu_n = reference * r_2(gen)``;
4. step 2b: events failing ``pass_gen`` get the expected push given ``reco``
   (``fakes="learn"``), or keep nu_{n-1}.

Every step is one call of :func:`_fit_log_ratio`, which trains on two weighted
classes and returns clipped, class-corrected log ratios on the events asked for,
held out by k-fold where those events were in the training set.

Replicas. All weights carry a leading replica axis of length R. With a point
classifier and no resampling the replicas are an ensemble over initialisations;
with ``bootstrap="poisson"`` each replica sees Poisson(1) event weights (the
classical bootstrap); with ``bootstrap="bayesian"`` Dirichlet (Exp(1)) weights
(Rubin's Bayesian bootstrap); with a Bayesian classifier each replica carries its
own posterior draw from step to step (DESIGN.md, "Propagation through
iterations").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from tqdm import tqdm

from bayesfold._checks import check_integer
from bayesfold.classifiers.base import Classifier
from bayesfold.diagnostics import reliability_curve
from bayesfold.exceptions import ConfigurationError
from bayesfold.ratios import DEFAULT_MAX_LOGIT, log_ratio, normalize_class_weights
from bayesfold.result import StepDiagnostics, UnfoldingResult
from bayesfold.samples import (
    DataSample,
    SimulationSample,
    check_compatible,
    kish_effective_size,
)

__all__ = ["omnifold"]

logger = logging.getLogger(__name__)

Reference = Literal["prior", "previous"]
Completion = Literal["learn", "one"]
Bootstrap = Literal["poisson", "bayesian"]
BootstrapOn = Literal["data", "simulation", "both"]
DataTotal = Literal["observed", "posterior"]
SimulationSampling = Literal["fixed", "posterior"]

#: Four steps per iteration, in order; their index keys the seed of each fit.
STEPS = ("step1", "step1b", "step2", "step2b")


def omnifold(
    simulation: SimulationSample,
    data: DataSample,
    *,
    iterations: int = 4,
    classifier: Classifier | None = None,
    step2_classifier: Classifier | None = None,
    replicas: int = 1,
    final_draws: int = 1,
    data_total: DataTotal = "observed",
    simulation_sampling: SimulationSampling = "fixed",
    bootstrap: Bootstrap | None = None,
    bootstrap_on: BootstrapOn = "both",
    reference: Reference = "prior",
    folds: int = 1,
    efficiency: Completion = "learn",
    fakes: Completion = "learn",
    max_logit: float = DEFAULT_MAX_LOGIT,
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
) -> UnfoldingResult:
    """Unfold ``data`` with the simulated events of ``simulation``.

    Parameters
    ----------
    simulation : SimulationSample
        Simulated events (gen, reco, weights, selections).
    data : DataSample
        Measured events at detector level.
    iterations : int
        Number of OmniFold iterations N (each one step 1 and one step 2).
    classifier : Classifier, optional
        Template of the step 1 classifier (and of step 2's when
        ``step2_classifier`` is None). Cloned per step and fold. Default: the
        point-estimate :class:`~bayesfold.classifiers.MLPClassifier`.
    step2_classifier : Classifier, optional
        Template of the step 2 (gen-level) classifier.
    replicas : int
        Number R of weight vectors carried through the iterations.
    final_draws : int
        Posterior draws K per replica at the last step 1: each replica's
        step 1 classifier there is sampled K times, so the result has R x K
        draws (replica r's at rows r K to r K + K - 1) for the cost of R step 1
        fits; the last step 2 then fits all R x K. Needs a step 1 classifier
        with a posterior (``sample_logit``), such as
        :class:`~bayesfold.classifiers.BayesianMLPClassifier`. The earlier
        steps' uncertainty enters through the R replicas only (DESIGN.md,
        "Propagation through iterations").
    data_total : {"observed", "posterior"}
        The number of events each draw is normalised to (``result.weights``):
        the measured total, or, for draws that are to form a posterior, a
        draw per weight vector from the Gamma posterior of the expected total
        given the measured (Kish effective) count, Gamma(n) / n, as a Bayesian
        bootstrap of the data would give. Without it every draw has the same
        total and the bin covariance misses the data's overall Poisson
        fluctuation.
    simulation_sampling : {"fixed", "posterior"}
        Whether the unfolded histograms take the simulated events as the
        population they stand for ("fixed"), or as a sample of it
        ("posterior"): each draw's simulation weights on the result are then
        multiplied by Exp(1) factors, one per event (a Bayesian bootstrap of
        the simulation, after the iterations, which train on the events as
        they are). A bin's count is a sum over its simulated events, and
        this adds its sampling variance, independently per bin, which the
        classifiers' smooth posteriors do not carry (``docs/validation.md``,
        "Joint test").
    bootstrap : {"poisson", "bayesian"}, optional
        Resample events per replica with Poisson(1) or Exp(1) weights.
    bootstrap_on : {"data", "simulation", "both"}
        Which sample the bootstrap resamples.
    reference : {"prior", "previous"}
        Step 2 compares the pulled simulation with the prior (default, the
        original OmniFold) or with the previous iteration's push weights.
    folds : int
        With ``folds >= 2``, each event's ratio is predicted by a classifier that
        did not train on it (k-fold); 1 trains and predicts on all events.
    efficiency, fakes : {"learn", "one"}
        How events that fail ``pass_reco`` (step 1b) and ``pass_gen`` (step 2b)
        get their weights: learned from the passing events, or left unchanged.
    max_logit : float
        Classifier logits are clipped to ``[-max_logit, max_logit]``.
    random_state : int, Generator or None
        Seed of every random step; the same seed gives the same result.
    progress : bool
        Show a progress bar over the iterations.

    Returns
    -------
    UnfoldingResult
        Pull and push weights for every iteration, with a draws axis of length
        ``replicas``, and the diagnostics of every step.
    """
    _check_options(iterations, replicas, folds, reference, efficiency, fakes)
    _check_final_draws(final_draws, classifier)
    _check_choice("data_total", data_total, ("observed", "posterior"))
    _check_choice("simulation_sampling", simulation_sampling, ("fixed", "posterior"))
    check_compatible(simulation, data)
    if bootstrap is not None:
        _check_choice("bootstrap", bootstrap, ("poisson", "bayesian"))
        _check_choice("bootstrap_on", bootstrap_on, ("data", "simulation", "both"))

    seeds = _SeedTree(random_state)
    sim_weights, data_weights = _replica_event_weights(
        simulation, data, replicas, bootstrap, bootstrap_on, seeds
    )
    run = _Run(
        simulation=simulation,
        data=data,
        sim_weights=sim_weights,
        data_weights=data_weights,
        templates=_templates(classifier, step2_classifier),
        folds=folds,
        max_logit=max_logit,
        seeds=seeds,
    )

    start = time.perf_counter()
    push = np.ones_like(sim_weights)
    pulls: list[NDArray[np.float64]] = []
    pushes: list[NDArray[np.float64]] = []
    for iteration in tqdm(
        range(iterations), desc="OmniFold", unit="iteration", disable=not progress
    ):
        draws = final_draws if iteration == iterations - 1 else 1
        if draws > 1:
            (push,) = run.expand(draws, push)
            pulls = [np.repeat(p, draws, axis=0) for p in pulls]
            pushes = [np.repeat(p, draws, axis=0) for p in pushes]
        pull = run.step1(iteration, push, efficiency, draws=draws)
        push = run.step2(iteration, pull, push, reference, fakes)
        pulls.append(pull)
        pushes.append(push)
        _log_iteration(iteration, simulation, run.sim_weights, push)

    data_weights = run.data_weights
    if data_total == "posterior":
        data_weights = data_weights * _total_factors(data, len(data_weights), seeds)
    sim_weights = run.sim_weights
    if simulation_sampling == "posterior":
        factors = seeds.generator(_SIM_SAMPLING_KEY).exponential(size=sim_weights.shape)
        sim_weights = sim_weights * factors
    return UnfoldingResult(
        simulation=simulation,
        sim_weights=sim_weights,
        data_weights=data_weights,
        pull_weights=np.stack(pulls),
        push_weights=np.stack(pushes),
        diagnostics=run.diagnostics,
        method=_method_name(run.templates["step1"], replicas, bootstrap),
        seconds=time.perf_counter() - start,
        random_state=seeds.entropy,
    )


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}."
        )


def _check_options(
    iterations: int,
    replicas: int,
    folds: int,
    reference: str,
    efficiency: str,
    fakes: str,
) -> None:
    for name, value in (
        ("iterations", iterations),
        ("replicas", replicas),
        ("folds", folds),
    ):
        check_integer(name, value, 1)
    _check_choice("reference", reference, ("prior", "previous"))
    _check_choice("efficiency", efficiency, ("learn", "one"))
    _check_choice("fakes", fakes, ("learn", "one"))


def _total_factors(
    data: DataSample, draws: int, seeds: _SeedTree
) -> NDArray[np.float64]:
    """Per-draw factors Gamma(n) / n on the data total, shape (draws, 1)."""
    n = float(kish_effective_size(data.data_weights))
    return seeds.generator(_DATA_TOTAL_KEY).gamma(n, 1.0, size=(draws, 1)) / n


def _check_final_draws(final_draws: int, classifier: Classifier | None) -> None:
    check_integer("final_draws", final_draws, 1)
    if final_draws > 1 and not hasattr(classifier, "sample_logit"):
        name = "the default MLPClassifier"
        if classifier is not None:
            name = type(classifier).__name__
        raise ConfigurationError(
            f"final_draws={final_draws} samples the posterior of the step 1 "
            f"classifier, but {name} has none (no sample_logit); use a "
            f"Bayesian classifier or final_draws=1."
        )


def _templates(
    classifier: Classifier | None, step2_classifier: Classifier | None
) -> dict[str, Classifier]:
    if classifier is None:
        from bayesfold.classifiers.mlp import MLPClassifier

        classifier = MLPClassifier()
    reco_level = classifier
    gen_level = step2_classifier if step2_classifier is not None else reco_level
    for name, template in (("classifier", reco_level), ("step2", gen_level)):
        if not isinstance(template, Classifier):
            raise ConfigurationError(
                f"{name} must follow the bayesfold classifier protocol (fit, "
                f"predict_logit, get_params, set_params); got {type(template)!r}."
            )
    # Steps 1 and 2b see detector-level features; steps 1b and 2 particle-level.
    return {
        "step1": reco_level,
        "step1b": gen_level,
        "step2": gen_level,
        "step2b": reco_level,
    }


def _method_name(template: Classifier, replicas: int, bootstrap: str | None) -> str:
    name = getattr(template, "method_name", type(template).__name__)
    if bootstrap is not None:
        return f"{name}+{bootstrap}-bootstrap"
    return name if replicas == 1 else f"{name}-ensemble"


class _SeedTree:
    """Independent seeds for every (iteration, step, fold), from one root."""

    def __init__(self, random_state: int | np.random.Generator | None) -> None:
        if isinstance(random_state, np.random.Generator):
            random_state = int(random_state.integers(2**63))
        root = np.random.SeedSequence(random_state)
        self.entropy = int(root.entropy)  # type: ignore[arg-type]

    def seed(self, *key: int) -> int:
        sequence = np.random.SeedSequence(self.entropy, spawn_key=key)
        return int(sequence.generate_state(1, dtype=np.uint32)[0])

    def generator(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(self.seed(*key))


# Spawn keys of the seed tree: fits use (iteration, step, fold); resampling and
# fold assignment use keys far above any iteration count.
_BOOTSTRAP_SIM_KEY, _BOOTSTRAP_DATA_KEY, _FOLD_KEY = 1_000_001, 1_000_002, 1_000_003
_FINAL_DRAWS_KEY, _DATA_TOTAL_KEY = 1_000_004, 1_000_005
_SIM_SAMPLING_KEY = 1_000_006


def _replica_event_weights(
    simulation: SimulationSample,
    data: DataSample,
    replicas: int,
    bootstrap: str | None,
    bootstrap_on: str,
    seeds: _SeedTree,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-replica event weights, shape (R, n): input weights times resampling."""
    sim = np.broadcast_to(simulation.sim_weights, (replicas, simulation.n_events))
    dat = np.broadcast_to(data.data_weights, (replicas, data.n_events))
    if bootstrap is None:
        return sim.copy(), dat.copy()

    def factors(shape: tuple[int, int], key: int) -> NDArray[np.float64]:
        rng = seeds.generator(key)
        if bootstrap == "poisson":
            return rng.poisson(1.0, size=shape).astype(np.float64)
        return rng.standard_exponential(size=shape)

    if bootstrap_on in ("simulation", "both"):
        sim = sim * factors(sim.shape, _BOOTSTRAP_SIM_KEY)
    if bootstrap_on in ("data", "both"):
        dat = dat * factors(dat.shape, _BOOTSTRAP_DATA_KEY)
    return np.array(sim), np.array(dat)


@dataclass
class _Run:
    """State shared by the steps of one unfolding: samples, weights, fits."""

    simulation: SimulationSample
    data: DataSample
    sim_weights: NDArray[np.float64]
    data_weights: NDArray[np.float64]
    templates: dict[str, Classifier]
    folds: int
    max_logit: float
    seeds: _SeedTree
    diagnostics: list[StepDiagnostics] = field(default_factory=list)
    _classifiers: dict[tuple[str, int], Classifier] = field(default_factory=dict)

    def step1(
        self,
        iteration: int,
        push: NDArray[np.float64],
        efficiency: str,
        draws: int = 1,
    ) -> NDArray[np.float64]:
        """Pull weights omega_n from step 1 and, where needed, step 1b.

        With ``draws`` K > 1 the weights hold K identical rows per replica;
        step 1 fits each replica once and samples its posterior K times.
        """
        sim = self.simulation
        reco_pass = sim.pass_reco
        step1 = self._fit_log_ratio(
            iteration,
            "step1",
            x0=sim.reco[reco_pass],
            w0=push[:, reco_pass] * self.sim_weights[:, reco_pass],
            x1=self.data.data,
            w1=self.data_weights,
            draws=draws,
        )
        pull = push.copy()
        pull[:, reco_pass] *= np.exp(step1)

        missing = ~reco_pass & sim.pass_gen
        if efficiency == "learn" and missing.any():
            pull[:, missing] *= np.exp(
                self._expected_ratio(
                    iteration,
                    "step1b",
                    sim.gen,
                    reco_pass & sim.pass_gen,
                    missing,
                    before=push,
                    after=pull,
                )
            )
        self._record_weights(iteration, "step1", pull)
        return pull

    def step2(
        self,
        iteration: int,
        pull: NDArray[np.float64],
        previous_push: NDArray[np.float64],
        reference: str,
        fakes: str,
    ) -> NDArray[np.float64]:
        """Push weights nu_n from step 2 and, where needed, step 2b."""
        sim = self.simulation
        gen_pass = sim.pass_gen
        ref = previous_push if reference == "previous" else np.ones_like(pull)
        step2 = self._fit_log_ratio(
            iteration,
            "step2",
            x0=sim.gen[gen_pass],
            w0=ref[:, gen_pass] * self.sim_weights[:, gen_pass],
            x1=sim.gen[gen_pass],
            w1=pull[:, gen_pass] * self.sim_weights[:, gen_pass],
            paired=True,
        )
        push = previous_push.copy()
        push[:, gen_pass] = ref[:, gen_pass] * np.exp(step2)

        missing = ~gen_pass & sim.pass_reco
        if fakes == "learn" and missing.any():
            push[:, missing] *= np.exp(
                self._expected_ratio(
                    iteration,
                    "step2b",
                    sim.reco,
                    gen_pass & sim.pass_reco,
                    missing,
                    before=previous_push,
                    after=push,
                )
            )
        self._record_weights(iteration, "step2", push)
        return push

    def expand(
        self, draws: int, *weights: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], ...]:
        """Repeat every replica ``draws`` times, here and in ``weights``.

        The per-replica figures of the steps so far (clip counts, effective
        sizes) are repeated too, so that every record has one per draw.
        """
        self.sim_weights = np.repeat(self.sim_weights, draws, axis=0)
        self.data_weights = np.repeat(self.data_weights, draws, axis=0)
        for record in self.diagnostics:
            record.n_clipped = np.repeat(record.n_clipped, draws)
            if record.effective_size is not None:
                record.effective_size = np.repeat(record.effective_size, draws)
        return tuple(np.repeat(w, draws, axis=0) for w in weights)

    def _expected_ratio(
        self,
        iteration: int,
        step: str,
        features: NDArray[np.float64],
        train: NDArray[np.bool_],
        target: NDArray[np.bool_],
        *,
        before: NDArray[np.float64],
        after: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """E[after / before | features] on ``target``, learned on ``train``."""
        x = features[train]
        return self._fit_log_ratio(
            iteration,
            step,
            x0=x,
            w0=before[:, train] * self.sim_weights[:, train],
            x1=x,
            w1=after[:, train] * self.sim_weights[:, train],
            paired=True,
            x_target=features[target],
        )

    def _fit_log_ratio(
        self,
        iteration: int,
        step: str,
        *,
        x0: NDArray[np.float64],
        w0: NDArray[np.float64],
        x1: NDArray[np.float64],
        w1: NDArray[np.float64],
        paired: bool = False,
        x_target: NDArray[np.float64] | None = None,
        draws: int = 1,
    ) -> NDArray[np.float64]:
        """Log p_1/p_0, shape (R, n_target): on ``x0`` (held out) or ``x_target``.

        ``paired`` marks that row i of ``x0`` and ``x1`` is the same event, so
        that both copies of an event fall in the same fold. It also changes what
        the ratio means: unpaired (step 1, simulation against data, whose
        relative normalisation is unknown) it is the ratio of normalised
        densities; paired (one sample under two weightings) it is the ratio of
        the weighted measures, so that ``w0 * r`` reproduces ``w1`` in total as
        well as in shape. Otherwise the events inside a selection and those
        outside it (efficiency, fakes) would drift apart in normalisation.

        ``draws`` K > 1: the R rows of the weights are R / K replicas repeated
        K times; the classifier fits each once and its posterior is sampled K
        times for the ratios.
        """
        start = time.perf_counter()
        fold0 = self._fold_labels(len(x0), step)
        fold1 = fold0 if paired else self._fold_labels(len(x1), step, offset=1)
        n_target = len(x0) if x_target is None else len(x_target)
        result = np.zeros((len(w0), n_target))
        n_clipped = np.zeros(len(w0), dtype=np.int64)
        histories = []
        training_logits: list[tuple[NDArray[Any], ...]] = []
        measure_ratio = np.log(w1.sum(axis=1)) - np.log(w0.sum(axis=1))

        for fold, train0, train1 in self._splits(fold0, fold1):
            clf = self._classifier(step, fold, iteration)
            X = np.concatenate([x0[train0], x1[train1]])
            y = np.repeat([0, 1], [train0.sum(), train1.sum()])
            w = normalize_class_weights(
                y, np.concatenate([w0[::draws, train0], w1[::draws, train1]], axis=1)
            )
            clf.fit(X, y, sample_weight=w)
            histories.append(getattr(clf, "history_", {}))
            # Calibration on the training events, first replica (StepDiagnostics).
            fitted = np.atleast_2d(clf.predict_logit(X))
            training_logits.append((fitted[0], y, w[0]))

            rows = ~train0 if self.folds > 1 and x_target is None else slice(None)
            if self.folds == 1 and x_target is None and draws == 1:
                # The events to predict are the training set's class 0 rows.
                logits = fitted[:, : len(x0)]
            else:
                x_eval = x0[rows] if x_target is None else x_target
                logits = self._logits(clf, x_eval, draws, iteration, step, fold)
            totals = (
                np.repeat(w[:, y == 0].sum(axis=1), draws),
                np.repeat(w[:, y == 1].sum(axis=1), draws),
            )
            ratio = log_ratio(logits, totals, self.max_logit)
            n_clipped += ratio.n_clipped
            values = ratio.values + (measure_ratio[:, None] if paired else 0.0)
            if x_target is None:
                result[:, rows] = values
            else:
                result += values / self.folds

        self.diagnostics.append(
            StepDiagnostics(
                iteration=iteration,
                step=step,
                n_events=n_target,
                n_clipped=n_clipped,
                effective_size=None,
                seconds=time.perf_counter() - start,
                history=histories,
                calibration=reliability_curve(
                    *(
                        np.concatenate(parts)
                        for parts in zip(*training_logits, strict=True)
                    )
                ),
            )
        )
        return result

    def _logits(
        self,
        clf: Classifier,
        x: NDArray[np.float64],
        draws: int,
        iteration: int,
        step: str,
        fold: int,
    ) -> NDArray[np.float64]:
        """Logits (R, n): the kept draw per replica, or ``draws`` fresh ones each."""
        if draws == 1:
            return np.atleast_2d(clf.predict_logit(x))
        seed = self.seeds.seed(_FINAL_DRAWS_KEY, iteration, STEPS.index(step), fold)
        sampled = np.asarray(clf.sample_logit(x, draws, random_state=seed))  # type: ignore[attr-defined]
        sampled = sampled.reshape(draws, -1, len(x))  # (K, R, n)
        return sampled.transpose(1, 0, 2).reshape(-1, len(x))

    def _fold_labels(self, n: int, step: str, offset: int = 0) -> NDArray[np.int64]:
        if self.folds == 1:
            return np.zeros(n, dtype=np.int64)
        rng = self.seeds.generator(_FOLD_KEY, STEPS.index(step), offset)
        return rng.permutation(np.arange(n) % self.folds)

    def _splits(
        self, fold0: NDArray[np.int64], fold1: NDArray[np.int64]
    ) -> Iterator[tuple[int, NDArray[np.bool_], NDArray[np.bool_]]]:
        if self.folds == 1:
            yield 0, np.ones(len(fold0), bool), np.ones(len(fold1), bool)
            return
        for fold in range(self.folds):
            yield fold, fold0 != fold, fold1 != fold

    def _classifier(self, step: str, fold: int, iteration: int) -> Classifier:
        key = (step, fold)
        if key not in self._classifiers:
            self._classifiers[key] = clone(self.templates[step])
        clf = self._classifiers[key]
        clf.set_params(random_state=self.seeds.seed(iteration, STEPS.index(step), fold))
        return clf

    def _record_weights(
        self, iteration: int, step: str, weights: NDArray[np.float64]
    ) -> None:
        """Attach the Kish effective size of the new weights to the step record."""
        relevant = (
            self.simulation.pass_reco if step == "step1" else self.simulation.pass_gen
        )
        ess = kish_effective_size(weights[:, relevant] * self.sim_weights[:, relevant])
        for record in reversed(self.diagnostics):
            if record.step == step and record.iteration == iteration:
                record.effective_size = ess
                break


def _log_iteration(
    iteration: int,
    simulation: SimulationSample,
    sim_weights: NDArray[np.float64],
    push: NDArray[np.float64],
) -> None:
    gen_pass = simulation.pass_gen
    w = push[:, gen_pass] * sim_weights[:, gen_pass]
    logger.info(
        "iteration %d: push weights mean %.4g, max %.4g, effective size %.4g of %d",
        iteration + 1,
        float(np.mean(push[:, gen_pass])),
        float(np.max(push[:, gen_pass])),
        float(np.mean(kish_effective_size(w))),
        int(gen_pass.sum()),
    )
