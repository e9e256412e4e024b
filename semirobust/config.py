"""Run configuration and scale profiles, validated before any compute.

One code path, three sizes (docs/conventions.md, Scale profiles): ``smoke`` (CI, any CPU, minutes),
``offline`` (this 2-core machine, the default: Fashion-MNIST, networks that learn, controls, five seeds in
the primary cell; ``digits`` as Figure 1's second data set; ``cpu`` is an alias of it) and ``paper`` (GPU, the supplementary's settings).
``auto`` picks ``paper`` on CUDA and ``smoke`` otherwise, and says so.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType

import torch

from semirobust.names import ArmName, TrainingMode, check_choice, set_members


@dataclass(frozen=True)
class ArchSpec:
    """The facts about one architecture of the paper, in one place."""

    name: str  # the name every API takes ("vgg16")
    display_name: str  # the paper's name, for tables, figures and page text ("VGG16")
    layers: int  # trainable (Conv2d/Linear) layers, at any width
    paper_fb_layers: int  # f_b size of Table 1 (Section 3.2)
    builder: str  # the function of semirobust.models that builds the bare network (named: config imports no model code)
    #: built with channels-last weights on the CPU, where that was measured faster (benchmarks/bench_cpu_formats.py:
    #: an attack iteration of VGG16 at width 0.125 1.4x, AlexNet at 0.25 1.7x; ResNet50 at 0.0625 4% slower)
    cpu_channels_last: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """The facts about one data set, in one place (images are in [0, 1]; the model normalizes)."""

    name: str
    display_name: str  # the paper's name ("CIFAR-10")
    num_classes: int
    image_size: int  # height = width of the images the networks take
    mean: tuple[float, float, float] | None  # per-channel statistics of the training split (None: computed
    std: tuple[float, float, float] | None  # from the data when loaded, see semirobust.data.dataset_info)
    train_size: int  # images of the training split (imagenette2-320; digits: the bundled 80/20 split)
    test_size: int  # images of the test split


ARCH_SPECS = MappingProxyType({spec.name: spec for spec in (
    ArchSpec("alexnet", "AlexNet", layers=8, paper_fb_layers=4, builder="make_alexnet", cpu_channels_last=True),
    ArchSpec("vgg16", "VGG16", layers=16, paper_fb_layers=12, builder="make_vgg16", cpu_channels_last=True),
    ArchSpec("resnet50", "ResNet50", layers=54, paper_fb_layers=16, builder="make_resnet50"),
)})
# Widely used per-channel statistics of the training splits (CIFAR: computed on the 50k training images;
# Imagenette: the ImageNet statistics torchvision's pretrained models use; digits: computed when loaded;
# Fashion-MNIST: computed on its padded training split).
DATASET_SPECS = MappingProxyType({spec.name: spec for spec in (
    DatasetSpec("cifar10", "CIFAR-10", 10, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 50000, 10000),
    DatasetSpec("cifar100", "CIFAR-100", 100, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 50000, 10000),
    DatasetSpec("imagenette", "Imagenette", 10, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 9469, 3925),
    DatasetSpec("digits", "digits", 10, 32, None, None, 1437, 360),
    # 28x28 grey images zero-padded to 32x32 (the background is 0, so padding adds no content) and repeated
    # over 3 channels; statistics of the padded 60,000 training images (tests/test_data.py recomputes them).
    DatasetSpec("fashion-mnist", "Fashion-MNIST", 10, 32, (0.2190,) * 3, (0.3318,) * 3, 60000, 10000),
)})

# Read-only views of the records, for the many callers that need one fact.
ARCHS = tuple(ARCH_SPECS)
#: the paper's names of the architectures and data sets, for tables, figures and page text.
MODEL_NAMES = MappingProxyType({a: s.display_name for a, s in ARCH_SPECS.items()})
#: f_b sizes used for Table 1 in the paper (Section 3.2).
PAPER_FB_LAYERS = MappingProxyType({a: s.paper_fb_layers for a, s in ARCH_SPECS.items()})
#: number of trainable (Conv2d/Linear) layers of each architecture, at any width.
LAYER_COUNTS = MappingProxyType({a: s.layers for a, s in ARCH_SPECS.items()})
DATASETS = tuple(DATASET_SPECS)
DATASET_NAMES = MappingProxyType({d: s.display_name for d, s in DATASET_SPECS.items()})
#: training / test images of each data set.
DATASET_SIZES = MappingProxyType({d: (s.train_size, s.test_size) for d, s in DATASET_SPECS.items()})
ATTACKS = ("fgsm", "ifgsm", "pgd", "cw", "autoattack")
PROFILES = ("smoke", "offline", "paper")
#: old name of the offline profile, still accepted.
PROFILE_ALIASES = {"cpu": "offline"}
#: the paper's attack budgets (Section 3.1), in 1/255 pixel units.
PAPER_BUDGETS = (8, 16, 32)
#: f_b sizes of the paper's Figure 2 (ResNet50 on CIFAR-10).
FIGURE2_FB_SIZES = (4, 8, 12, 16)


@dataclass(frozen=True)
class Profile:
    """Concrete sizes of one scale profile (stamped on every result)."""

    name: str
    train_subset: int | None  # training images (None = whole split)
    test_subset: int | None  # test images used for clean accuracy and rho
    eval_subset: int | None  # test images attacked for adversarial accuracy
    width: float  # channel multiplier of the networks
    epochs: int  # epochs of adversarial (and, unless standard_epochs says otherwise, regular) full-network training
    sub_epochs: int  # E: epochs per trial of subnetwork adversarial training
    trials: int  # T: trials of Algorithm 1
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    milestones: tuple[int, ...]  # epochs where the learning rate is divided by 10
    rho_samples: int | None  # attacked test images used to estimate rho
    augment: bool  # random crop + flip during training (CIFAR-style)
    # --- Algorithm 1 settings (defaults keep older call sites working) ---
    val_fraction: float = 0.2  # share of the training split held out for stopping and selection
    seeds: tuple[int, ...] = (0,)  # seeds per Table 1 cell (networks and trials retrained per seed)
    eps255: int = 8  # the evaluation budget in 1/255 units; the training attack uses the same eps
    k: float = 1.0  # stop a trial when Acc* - Acc <= k points
    trial_lr: float | None = None  # constant lr of the trials' SGD (None: the profile's lr and schedule)
    full_autoattack: bool = True  # every evaluation is the full standard AutoAttack (else APGD-CE after each epoch)
    #: test images on which the final networks (Acc*, both Acc~) face the full standard AutoAttack once, when the
    #: per-epoch evaluation is not already it: n = a stratified n of the ``eval_subset`` images; None = every test
    #: image of the run (the whole test split unless ``test_subset`` limits it); 0 = not run
    final_autoattack_images: int | None = None
    final_autoattack_seeds: int | None = None  # only the first this many seeds' final networks (None: every seed)
    figure2_fb_sizes: tuple[int, ...] = FIGURE2_FB_SIZES
    train_attack_steps: int = 10  # PGD steps of adversarial training (step 2.5 eps / steps: eps/4 at 10)
    # --- theory checks (Theorem 3, Lemma 2, Algorithm S1) ---
    gamma_images: int = 500  # evaluation images for gamma_j
    gamma_steps: int = 50  # PGD steps approximating the infimum in gamma_j
    gamma_restarts: int = 2  # its restarts
    s1_apgd_steps: int = 100  # APGD-CE iterations of the adaptive attack on Algorithm S1's linear predictor
    s1_attacks: tuple[str, ...] | None = None  # Table S1's inputs (None: all of them, AutoAttack included)
    hessian_images: int | None = None  # fixed images of Section 2.2's losses and Hessians (None: eval_subset)
    # --- the dependence study (mi_estimator notebook): samples per class and dimensions per side ---
    study_ns: tuple[int, ...] = (50, 100, 1000)
    study_dims: tuple[int, ...] = (64, 512, 2048, 16384)
    study_permutations: int = 20
    #: the estimator checks of the same notebook: samples, correlations, sample sizes, seeds per point,
    #: dimensions, and the sizes of the timing run
    mi_checks: dict = field(default_factory=lambda: dict(
        n=10000, rs=(0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99), ns=(250, 500, 1000, 2000, 5000, 10000, 50000),
        seeds=10, dims=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64), timing_ns=(1000, 10000, 50000, 100000), timing_dim=4096))
    #: validation images of the per-epoch stopping and selection attack (None: ``eval_subset`` of them)
    val_subset: int | None = None
    #: stratified test images on which every selected network (the regular one, Acc*, Acc_sr and each arm's
    #: Acc~) is scored once under the evaluation attack; they contain the per-epoch ``eval_subset`` images.
    #: None: the ``eval_subset`` images themselves
    test_scored: int | None = None
    #: epochs of the regular (standard) full-network training when they differ from ``epochs`` (None: ``epochs``);
    #: its learning-rate milestones are scaled to them
    standard_epochs: int | None = None
    #: APGD-CE iterations of the attack after every trial epoch (stopping and selection; None: the standard
    #: 100)
    stopping_apgd_iters: int | None = None
    #: APGD-CE iterations of the scores (Acc*, Acc_sr, each selected network, rho's attacked images; None: the
    #: standard 100); the final full AutoAttack and Tables S2-S4's APGD-CE always run the standard 100
    score_apgd_iters: int | None = None
    #: the AutoAttack attacks of the scores, run in this order on the images still robust (worst case per image;
    #: the per-epoch attack is APGD-CE alone)
    score_attacks: tuple[str, ...] = ("apgd-ce",)
    #: the Table 1 arms whose final networks face the full AutoAttack besides Acc*'s (None: every arm of the cell)
    final_autoattack_arms: tuple[ArmName, ...] | None = None
    #: whether the paper's test-selected Acc~ network faces the full AutoAttack too (where it is not the
    #: validation-selected one)
    final_autoattack_paper_rule: bool = True
    #: the arms run in a Table 1 cell (the paper's f_b size of the architecture), paired by seed; other f_b
    #: sizes run Algorithm 1's arm only (see semirobust.experiments.table1.arms)
    arms: tuple[ArmName, ...] = ("algorithm1",)
    #: data sets added to the book's one as further lines of Figure 1 (the offline profile: digits)
    figure1_extra_datasets: tuple[str, ...] = ()
    #: data set of the theory notebooks (Theorem 3, Section 2.2) when the book's is not wanted there (None: the book's)
    theory_dataset: str | None = None
    #: training images the Theorem 3 / Table S1 fits use and test images they score (None: ``test_subset``)
    theory_images: int | None = None
    #: seeds of the primary cell whose networks the cost-robustness frontier (the ``pays`` notebook) compares
    pays_seeds: tuple[int, ...] = (0,)
    #: f_b training methods of Table S5 (semirobust.names.TrainingMode: "adversarial" is the profile's PGD) and the
    #: seeds of the primary cell they run on
    table_s5_methods: tuple[TrainingMode, ...] = ("adversarial", "atta", "trades")
    table_s5_seeds: tuple[int, ...] = (0,)
    #: seeds of the primary cell whose final networks face the supplementary's attacks and budgets (Tables S2-S4)
    budget_table_seeds: tuple[int, ...] = (0,)
    #: test images of that table: a stratified subset of the scored images (None: all of them)
    budget_images: int | None = None
    #: (architecture, data set) cells of Figure 1 that the book leaves out at this profile (the build's time)
    figure1_left_out: tuple[tuple[str, str], ...] = ()
    #: the data set of Figure 2 at this profile (None: the book's)
    figure2_dataset: str | None = None
    #: per-architecture replacements of the fields above, e.g. {"resnet50": {"width": 0.125}}
    arch_overrides: dict = field(default_factory=dict)
    #: per-data-set replacements (applied before ``arch_overrides``; may hold an ``arch_overrides`` of their own)
    dataset_overrides: dict = field(default_factory=dict)

    def __post_init__(self):  # the arms and Table S5 methods as members, checked once, here (semirobust.names)
        set_members(self, arms=ArmName, final_autoattack_arms=ArmName, table_s5_methods=TrainingMode)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def training_dict(self) -> dict:
        """The fields a trained full network depends on (:data:`TRAINING_FIELDS`): its cache key, so that a
        change to an evaluation setting never retrains a network."""
        return {name: getattr(self, name) for name in TRAINING_FIELDS}

    def algorithm1_dict(self) -> dict:
        """The fields Algorithm 1's records depend on: every field but the theory checks', the dependence
        study's and the later evaluations' (:data:`NOT_ALGORITHM1_FIELDS`), so adding one of those to a profile
        never reruns a trial."""
        return {k: v for k, v in self.as_dict().items() if k not in NOT_ALGORITHM1_FIELDS}

    def for_arch(self, arch: str) -> Profile:
        """This profile with ``arch``'s overrides applied (and none left, so cache keys hold only what is used).
        Apply :meth:`for_dataset` first: a data set may bring architecture overrides of its own."""
        if not self.arch_overrides:
            return self
        return dataclasses.replace(self, **self.arch_overrides.get(arch, {}), arch_overrides={})

    def for_dataset(self, dataset: str) -> Profile:
        """This profile with ``dataset``'s overrides applied (and none left)."""
        if not self.dataset_overrides:
            return self
        return dataclasses.replace(self, **self.dataset_overrides.get(dataset, {}), dataset_overrides={})

    def for_run(self, arch: str, dataset: str) -> Profile:
        """The concrete settings of one network on one data set: data-set, then architecture overrides."""
        return self.for_dataset(dataset).for_arch(arch)


#: what a trained full network depends on (its cache key; semirobust.training.training_config)
TRAINING_FIELDS = ("name", "train_subset", "width", "epochs", "standard_epochs", "batch_size", "lr", "momentum",
                   "weight_decay", "milestones", "augment", "val_fraction", "train_attack_steps")
#: profile fields that no Algorithm 1 record depends on (theory checks, the dependence study, which notebooks
#: run which data sets, and the evaluations after the fact)
NOT_ALGORITHM1_FIELDS = ("gamma_images", "gamma_steps", "gamma_restarts", "s1_apgd_steps", "s1_attacks",
                         "hessian_images", "study_ns", "study_dims", "study_permutations", "mi_checks",
                         "figure2_fb_sizes", "figure1_extra_datasets", "theory_dataset", "theory_images", "pays_seeds",
                         "table_s5_methods", "table_s5_seeds", "budget_table_seeds",
                         "budget_images", "figure1_left_out", "figure2_dataset")

_PROFILE_TABLE = {
    # CI: every code path runs in minutes on 2 CPU cores; nothing is learnt to a conclusion. The final full
    # AutoAttack is left out (it cost about 6 minutes of CI across the book's networks even on 10 images);
    # tests/test_algorithm1.py runs it on a tiny profile instead.
    "smoke": Profile("smoke", train_subset=600, test_subset=200, eval_subset=64, width=0.125,
                     epochs=4, sub_epochs=1, trials=2, batch_size=32, lr=0.05, momentum=0.9,
                     weight_decay=5e-4, milestones=(3,), rho_samples=200, augment=False,
                     seeds=(0,), eps255=8, full_autoattack=False, final_autoattack_images=0,
                     figure2_fb_sizes=(4, 16), test_scored=100, stopping_apgd_iters=10, budget_images=50,
                     arms=("algorithm1", "random_fa", "standard_fb"),  # CI time: the other arms are unit-tested
                     figure1_extra_datasets=(),
                     gamma_images=50, gamma_steps=20, gamma_restarts=1, s1_apgd_steps=20,
                     s1_attacks=("none", "fgsm", "pgd"), study_ns=(50,), study_dims=(64, 512),
                     mi_checks=dict(n=2000, rs=(0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95), ns=(250, 500, 1000, 2000, 4000),
                                    seeds=3, dims=(1, 2, 4, 8, 16), timing_ns=(1000, 2000, 5000, 10000), timing_dim=64)),
    # This 2-core machine, the default: Fashion-MNIST at the paper's budget 8/255 (the regular network keeps
    # ~10-20% under attack there, the robust one far more: the budget is informative), VGG16 (the primary cell)
    # with three seeds and the controls of semirobust.experiments.table1.arms, paired by seed. Every arm gets the
    # paper's trial budget: T = 1 trial of up to E = 10 epochs (supplementary III.A), stopped after the first epoch
    # whose accuracy under the per-epoch attack (APGD-CE, 20 iterations) on 1,000 validation images is within k = 1
    # point of Acc* on them (one such accuracy has a binomial standard error of ~1.4 points); T = 2 would double
    # the arms' cost, which the cold build cannot hold. The same attack runs on 1,000 test images after every
    # epoch (the paper's test-selected Acc~ and the cost-robustness curves); the scored test images never enter
    # stopping or selection. Every selected network (the regular one, Acc*, Acc_sr, each arm's validation-selected
    # Acc~) is scored once on the same 1,000 stratified test images by APGD-CE and then APGD-DLR on what it left,
    # 100 iterations each (AutoAttack's own classes; the 20-iteration APGD-CE of the previous rounds read up to 10
    # points optimistic on the budgets page). The full standard AutoAttack runs on 200 of those images for Acc*'s
    # and Algorithm 1's validation-selected networks of every seed (~6-7 minutes per network on one core).
    # Measured on the first cold build at these settings (2 worker processes of 1 thread, shared with development
    # work): a seed takes ~45 minutes (networks 4 min, the five arms' trials ~19 min, scores ~7 min, the final
    # AutoAttack ~13 min), so three seeds are what the 120-minute cold build holds beside the studies and the
    # theory pages; five seeds at this budget would take ~75 minutes more. Training: 10,000 training images (a
    # fifth held out for validation), width 0.125, PGD-5 adversarial training for 8 epochs, regular training for 16
    # (measured earlier: 8 reached 86.7% clean on the 10,000 test images, 16 reached 88.1%). AlexNet's and
    # ResNet50's Fashion-MNIST settings (arch_overrides: AlexNet at width 0.25, 87.8% clean against ~82% at 0.125;
    # ResNet50 at width 0.0625, 54 layers, ~3.5x VGG16's cost per attack iteration, 5,000 training images, 500
    # scored) are kept for runs outside the book: at this budget each would cost about as much as the primary cell.
    # The cost frontier (pays) compares seeds 0-2 from the same trial curves; Table S5's ATTA and TRADES run on
    # seeds 0-2 with the same budget; the supplementary's attacks and budgets (Tables S2-S4) face the final networks
    # of seeds 0-2 on 300 of the scored images (~16 minutes a seed on a shared core). The theory pages (Theorem 3 / Table S1, the
    # Section 2.2 bound) run on Table 1's networks, Table S1's fits on 2,000 images (Theorem 3 took ~30 minutes of a
    # shared core). AlexNet and ResNet50 run on digits (Figure 1's digits line; Figure 2 on digits: ResNet50's regular
    # network on Fashion-MNIST took ~1 minute per epoch of a shared core, 16 epochs, before its robust network (10
    # epochs of PGD-5, ~6x a standard epoch) and two trials of up to 10 epochs: about an hour of one core more than
    # the build holds). digits (dataset_overrides) keeps the settings of the previous rounds: Figure 1's second line.
    "offline": Profile("offline", train_subset=10000, test_subset=None, eval_subset=1000, width=0.125,
                       epochs=8, standard_epochs=16, sub_epochs=10, trials=1, batch_size=64, lr=0.02, momentum=0.9,
                       weight_decay=5e-4, milestones=(6,), rho_samples=200, augment=False,
                       seeds=(0, 1, 2), eps255=8, k=1.0, trial_lr=0.01, full_autoattack=False,
                       final_autoattack_images=200, final_autoattack_seeds=None, final_autoattack_arms=(),
                       final_autoattack_paper_rule=False,
                       figure2_fb_sizes=(4, 16), train_attack_steps=5, val_subset=1000, test_scored=1000,
                       stopping_apgd_iters=20, score_apgd_iters=None, score_attacks=("apgd-ce", "apgd-dlr"),
                       arms=("algorithm1", "random_fa", "regular_fa", "standard_fb", "full_finetune"),
                       figure1_extra_datasets=("digits",), theory_images=2000,
                       pays_seeds=(0, 1, 2), table_s5_methods=("adversarial", "atta", "trades"),
                       table_s5_seeds=(0, 1, 2), budget_table_seeds=(0, 1, 2), budget_images=300,
                       figure1_left_out=(("resnet50", "fashion-mnist"), ("alexnet", "fashion-mnist")),
                       figure2_dataset="digits",
                       gamma_images=200, gamma_steps=20, gamma_restarts=1, s1_apgd_steps=50,
                       s1_attacks=("none", "fgsm", "pgd"), study_ns=(20, 50, 100, 1000), study_dims=(64, 512, 2048, 16384),
                       hessian_images=100,
                       mi_checks=dict(n=5000, rs=(0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
                                      ns=(250, 500, 1000, 2000, 5000, 10000), seeds=5, dims=(1, 2, 3, 4, 6, 8, 12, 16),
                                      timing_ns=(1000, 5000, 10000, 20000), timing_dim=256),
                       arch_overrides={"alexnet": {"seeds": (0,), "width": 0.25, "arms": ("algorithm1",),
                                                   "final_autoattack_images": 0},
                                       "resnet50": {"width": 0.0625, "seeds": (0,), "train_subset": 5000, "epochs": 10,
                                                    "milestones": (8,), "arms": ("algorithm1",), "eval_subset": 500,
                                                    "test_scored": 500, "final_autoattack_images": 0}},
                       # digits: all 1,437 training images (a fifth held out), 360 test images of which 200 are
                       # attacked after every epoch and scored; 16/255 because at 8/255 a regular network keeps ~80%
                       # under attack on digits (robustness is free there); no flips or crops (they change a digit's
                       # class); one seed per network, Algorithm 1's arm alone (T = 1 trial of E = 2 epochs, as on
                       # Fashion-MNIST), APGD-CE with 20 iterations after every epoch, no final AutoAttack.
                       dataset_overrides={"digits": {
                           "train_subset": None, "width": 0.25, "lr": 0.05, "standard_epochs": None, "sub_epochs": 2,
                           "trials": 1, "seeds": (0,), "eval_subset": 200, "val_subset": None,
                           "eps255": 16, "test_scored": None, "stopping_apgd_iters": 20, "arms": ("algorithm1",),
                           "final_autoattack_images": 0, "score_apgd_iters": 20, "score_attacks": ("apgd-ce",),
                           "arch_overrides": {"resnet50": {"width": 0.0625, "epochs": 10, "milestones": (8,),
                                                           "sub_epochs": 2}}}}),
    # The supplementary's settings (III.A): SGD 0.9, 120 epochs, lr 0.01 /10 at 40 and 80,
    # weight decay 5e-4, batch 512; up to 10 epochs per trial of Algorithm 1. Trials as the
    # authors ran them: constant lr 0.01 (their StepLR never fires), k as small as possible (1e-16).
    # Evaluation as this project runs it (the authors ran the full AutoAttack after every epoch): APGD-CE
    # on 1,000 stratified validation and 1,000 test images after every trial epoch (stopping and selection,
    # Acc*, Acc_sr), the full standard AutoAttack once per final network on the whole test set. On the whole
    # validation and test sets the per-epoch APGD-CE alone would cost 2/3 of the authors' gradient evaluations
    # saved (6.5x fewer instead of 16x, benchmarks/bench_grad_evals.py).
    "paper": Profile("paper", train_subset=None, test_subset=None, eval_subset=1000, width=1.0,
                     epochs=120, sub_epochs=10, trials=5, batch_size=512, lr=0.01, momentum=0.9,
                     weight_decay=5e-4, milestones=(40, 80), rho_samples=None, augment=True,
                     seeds=(0,), eps255=8, k=1e-16, trial_lr=0.01, full_autoattack=False,
                     final_autoattack_images=None, score_attacks=("apgd-ce", "apgd-dlr")),
}


def get_profile(name: str | Profile, device: str | torch.device | None = None) -> Profile:
    """Return the :class:`Profile` called ``name`` (a :class:`Profile` is returned as it is, so a custom
    one can be passed wherever a profile name can); ``auto`` resolves by device and warns which."""
    if isinstance(name, Profile):
        return name
    if name == "auto":
        on_cuda = torch.cuda.is_available() if device in (None, "auto") else torch.device(device).type == "cuda"
        chosen = "paper" if on_cuda else "smoke"
        warnings.warn(f"profile='auto' resolved to {chosen!r} ({'CUDA' if on_cuda else 'no CUDA'} device).", stacklevel=2)
        return _PROFILE_TABLE[chosen]
    name = PROFILE_ALIASES.get(name, name)
    check_choice("profile", name, PROFILES + tuple(PROFILE_ALIASES) + ("auto",))
    return _PROFILE_TABLE[name]


def check_budget(eps) -> int:
    """The budget as an integer e of e/255, one of the paper's :data:`PAPER_BUDGETS`; clear error otherwise."""
    check_eps(eps)
    e = round(float(eps) * 255, 6)
    if e not in PAPER_BUDGETS:
        raise ValueError(f"eps={eps!r} ({e:g}/255) is not one of the paper's budgets "
                         f"{', '.join(f'{b}/255' for b in PAPER_BUDGETS)}.")
    return int(e)


def check_fb_layers(arch: str, fb_layers: int) -> None:
    """f_b must hold between 1 and all trainable layers of ``arch``."""
    total = ARCH_SPECS[arch].layers
    check_int("fb_layers", fb_layers, high=total, why=f": {arch} has {total} trainable layers")


def check_int(name: str, value, low: int = 1, *, high: int | None = None, allow_none: bool = False,
              why: str = "") -> int | None:
    """An integer (not a bool) >= ``low`` (and <= ``high`` when given); None too when ``allow_none``.

    Returns the value; raises a ValueError naming ``name``, the bounds and ``why`` (a reason appended to
    the message, e.g. ": vgg16 has 16 trainable layers") otherwise.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name}={value!r} must be an integer {bounds}{' or None' if allow_none else ''}{why}.")
    return value


def check_eps(eps, name: str = "eps", *, allow_zero: bool = False) -> float:
    """An attack budget on the pixel scale (images are in [0, 1]): in (0, 1], or [0, 1] with ``allow_zero``
    (an attack of budget 0 is the identity); returned as a float. Negatives, NaN and bools are refused, and
    a budget above 1 is named as what it usually is, a budget in 1/255 units."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or math.isnan(eps) or eps < 0 or \
            (eps == 0 and not allow_zero):
        bounds = "[0, 1], i.e. >= 0" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}={eps!r} must be a number in {bounds} (pixel scale, e.g. 8/255).")
    if eps > 1:
        hint = f"; did you mean {int(eps)}/255?" if eps <= 255 and eps == int(eps) else "."  # 1/255 units (eps=8)?
        raise ValueError(f"{name}={eps!r} is larger than the pixel range [0, 1]: {name} must be at most 1, i.e. 255/255{hint}")
    return float(eps)


def parse_eps(value) -> float | None:
    """eps as a number: accepts numbers and strings such as ``"8/255"`` or ``"0.03"`` (papermill ``-p eps 8/255``);
    None stays None (the profile's budget). Only parses: :func:`check_eps` checks the range."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if "/" in text:
                numerator, denominator = text.split("/")
                return float(numerator) / float(denominator)
            return float(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"eps={value!r} is not a number or a fraction such as '8/255'.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"eps={value!r} must be a number (pixel scale, e.g. 8/255).")
    return float(value)


def parse_list(value, kind: str, cast=str) -> list:
    """A comma-separated string (``"alexnet,vgg16"``) or a list as a non-empty list of ``cast`` values."""
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    items = [v for v in items if v != ""]
    if not items:
        raise ValueError(f"{kind} is empty; give at least one value (comma-separated).")
    try:
        items = [cast(v) for v in items]
    except (TypeError, ValueError):
        raise ValueError(f"{kind}={value!r}: every entry must be a {cast.__name__}.") from None
    repeated = sorted({str(v) for v in items if items.count(v) > 1})
    if repeated:  # a repeated entry would run or draw the same thing twice
        raise ValueError(f"{kind}={value!r} lists {', '.join(repeated)} more than once; give each entry once.")
    return items


@dataclass(frozen=True)
class RunConfig:
    """Everything one Algorithm 1 / notebook run depends on, validated and completed at construction.

    A bad field raises ValueError with the fix in the message before any compute; fields left None
    (eps, fb_layers, k) are filled from the profile and the architecture. The config is frozen and trusted (a function
    taking one does not check its fields again): ``dataclasses.replace(config, seed=1)`` makes a new, validated one.
    """

    arch: str = "vgg16"
    dataset: str = "fashion-mnist"
    attack: str = "autoattack"
    eps: float | None = None  # None: the profile's budget (profile.eps255 / 255)
    fb_layers: int | None = None  # None: the paper's size for the architecture
    trials: int | None = None  # None: from the profile
    epochs: int | None = None  # E per trial; None: from the profile
    k: float | None = None  # stop a trial when Acc* - Acc <= k points; None: the profile's
    profile: str | Profile = "offline"  # a profile name or a Profile (e.g. dataclasses.replace of a named one)
    seed: int = 0
    data_root: str | None = None
    device: str = "auto"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        fill = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen: set once, here)
        check_choice("model", self.arch, ARCHS)
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("attack", self.attack, ATTACKS)
        if not isinstance(self.profile, Profile):
            check_choice("profile", self.profile, PROFILES + tuple(PROFILE_ALIASES) + ("auto",))
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise ValueError(f"device={self.device!r}: use 'auto', 'cpu' or 'cuda[:i]'.")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available here; use 'auto' or 'cpu'.")
        profile = get_profile(self.profile, self.device).for_run(self.arch, self.dataset)
        if self.eps is None:
            fill("eps", profile.eps255 / 255)
        if profile.name == "offline":
            check_budget(self.eps)  # one of the paper's budgets (checks eps first)
        else:
            check_eps(self.eps)
        if self.fb_layers is None:
            fill("fb_layers", ARCH_SPECS[self.arch].paper_fb_layers)
        check_fb_layers(self.arch, self.fb_layers)
        check_int("trials", self.trials, allow_none=True)
        check_int("epochs", self.epochs, allow_none=True)
        if self.k is None:
            fill("k", profile.k)
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float)) or not math.isfinite(self.k) or self.k < 0:
            raise ValueError(f"k={self.k!r} must be a finite non-negative number of accuracy points.")
        check_int("seed", self.seed, low=0, high=2**32 - 1, why=" (numpy and torch take seeds below 2**32)")

    @property
    def resolved_profile(self) -> Profile:
        return get_profile(self.profile, self.device).for_run(self.arch, self.dataset)

    @property
    def resolved_trials(self) -> int:
        return self.trials if self.trials is not None else self.resolved_profile.trials

    @property
    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else self.resolved_profile.sub_epochs

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


__all__ = ["ArchSpec", "DatasetSpec", "ARCH_SPECS", "DATASET_SPECS", "ARCHS", "MODEL_NAMES", "DATASET_NAMES",
           "DATASETS", "DATASET_SIZES", "ATTACKS", "PROFILES", "PROFILE_ALIASES", "PAPER_BUDGETS", "PAPER_FB_LAYERS",
           "LAYER_COUNTS", "FIGURE2_FB_SIZES", "Profile", "get_profile", "check_budget",
           "check_choice", "check_fb_layers", "check_int", "check_eps", "parse_eps", "parse_list", "RunConfig"]
