"""The library's names as StrEnums (semirobust.names, issue 32 item 5): training modes, Table 1 arms and record kinds
are checked once at the boundary, read and store as the strings they replaced (record identities and cache keys stay
byte-identical), and every record kind the library writes is a member of RecordKind (read from the source with
``ast``; a test shows the reader flags a kind that is not one). The bad inputs themselves, refused before any
compute, are rows of tests/test_bad_inputs.py."""
from __future__ import annotations

import dataclasses
import json
import pickle

import pytest
import torch
from record_kinds import library_store_kinds, store_kinds
from tiny import make_tiny_profile

from semirobust.checkpoints import CHECKPOINT_NAME
from semirobust.config import ARCHS, DATASETS, PROFILES, get_profile
from semirobust.data import TensorImageDataset
from semirobust.experiments.supplementary import budgets, pays, trades_check
from semirobust.experiments.table1 import configs
from semirobust.experiments.table1.arms import ARMS, CONTROLS, TABLE_S5_ARMS, cell_arms
from semirobust.names import ArmName, RecordKind, TrainingMode, parse_choice, parse_choices
from semirobust.pipeline import grid
from semirobust.pipeline.pages import PAGES, Page
from semirobust.results import ResultsStore, record_hash, to_jsonable
from semirobust.training import AT_METHOD_MODES, MODES, train, training_config
from semirobust.training_methods import METHODS, get_method
from semirobust.utils import config_hash

ENUMS = {TrainingMode: "training mode", ArmName: "arm", RecordKind: "record kind"}
MEMBERS = [member for names in ENUMS for member in names]


# ---------------------------------------------------------------- members stand for their strings


@pytest.mark.parametrize("member", MEMBERS, ids=[f"{type(m).__name__}.{m.name}" for m in MEMBERS])
def test_a_member_reads_prints_and_hashes_as_its_string(member):
    value = member.value
    assert type(value) is str and member == value and hash(member) == hash(value)
    assert f"{member}" == str(member) == value and type(str(member)) is str
    assert repr(member) == repr(value) and repr((member, [member])) == repr((value, [value]))
    assert json.dumps({member: [member]}) == json.dumps({value: [value]})
    assert config_hash({"key": member, member: 1}) == config_hash({"key": value, value: 1})
    assert record_hash(member, {"x": member}) == record_hash(value, {"x": value})
    plain = to_jsonable({member: [member]})
    assert plain == {value: [value]} and all(type(s) is str for s in (*plain, *plain[value]))
    assert pickle.loads(pickle.dumps(member)) is member


def test_a_record_written_with_a_member_is_the_record_of_its_string(tmp_path):
    store = ResultsStore(tmp_path)
    record = store.write(RecordKind.TABLE1, {"arm": ArmName.ALGORITHM1}, {ArmName.RANDOM_FA: 1.0}, profile="smoke",
                         seed=0, device="cpu", wall_time_s=1.0)
    assert store.read("table1", {"arm": "algorithm1"}) == record
    assert type(record["kind"]) is str and list(record["metrics"]) == ["random_fa"]
    assert (tmp_path / "table1" / f"{record['config_hash']}.json").is_file()


@pytest.mark.parametrize("names, kind", list(ENUMS.items()), ids=[n.__name__ for n in ENUMS])
def test_parse_choice_gives_the_member_or_an_error_naming_the_valid_values(names, kind):
    for member in names:
        assert parse_choice(kind, member, names) is member
        assert parse_choice(kind, str(member.value), names) is member
    valid = ", ".join(m.value for m in names)
    for bad in ("no_such_name", "", None, 3, ["algorithm1"]):
        with pytest.raises(ValueError) as err:
            parse_choice(kind, bad, names)
        assert str(err.value) == f"Unknown {kind} {bad!r}; valid {kind}s: {valid}."
    assert parse_choices(kind, [m.value for m in names], names) == tuple(names)
    with pytest.raises(ValueError, match="must be a tuple of names"):
        parse_choices(kind, next(iter(names)).value, names)  # a bare string is not read letter by letter


# ---------------------------------------------------------------- the registries are keyed by members


def test_what_training_pickles_into_files_holds_the_plain_mode(tiny_convnet, tmp_path):
    """A cached network's config and a checkpoint's fingerprint hold the mode's plain string: they load with
    ``weights_only=True`` (the files of the studies) and compare equal to those of the code before the enums."""
    config = training_config("vgg16", "digits", TrainingMode.TRADES, get_profile("smoke"), 0)
    assert type(config["mode"]) is str
    torch.save({"config": config}, tmp_path / "network.pt")
    assert torch.load(tmp_path / "network.pt", weights_only=True) == {"config": config}
    data = TensorImageDataset(torch.rand(8, 3, 32, 32), torch.randint(0, 3, (8,)))
    profile = dataclasses.replace(make_tiny_profile(batch_size=8), epochs=1)
    train(tiny_convnet(), data, profile=profile, mode="standard", device="cpu", progress=False,
          checkpoint_dir=tmp_path / "run")
    saved = torch.load(tmp_path / "run" / CHECKPOINT_NAME, map_location="cpu", weights_only=False)
    assert saved["fingerprint"]["mode"] == "standard" and type(saved["fingerprint"]["mode"]) is str


def test_the_training_modes_are_the_methods_registry():
    assert tuple(METHODS) == tuple(TrainingMode) == MODES
    assert all(type(name) is TrainingMode and METHODS[name].name is name for name in METHODS)
    assert set(AT_METHOD_MODES) == {TrainingMode.FGSM_RS, TrainingMode.TRADES, TrainingMode.ATTA}
    assert get_method("trades").name is TrainingMode.TRADES
    assert training_config("vgg16", "digits", "adversarial", get_profile("smoke"), 0) == \
        training_config("vgg16", "digits", TrainingMode.ADVERSARIAL, get_profile("smoke"), 0)


def test_the_arms_are_the_arms_registry():
    assert tuple(ARMS) == tuple(ArmName)
    assert all(type(name) is ArmName and ARMS[name].name is name and type(ARMS[name].mode) is TrainingMode
               for name in ARMS)
    assert all(type(arm) is ArmName for arm in CONTROLS)
    assert all(type(mode) is TrainingMode and type(arm) is ArmName for mode, arm in TABLE_S5_ARMS.items())


def test_the_modules_kind_names_are_members_with_the_strings_records_were_written_under():
    """The older module-level names stay, as members whose values are the folder names of existing records."""
    old = {configs.TRIAL_KIND: "algorithm1_trial", configs.REFERENCE_KIND: "algorithm1_reference",
           configs.SUMMARY_KIND: "table1", configs.AUTOATTACK_KIND: "algorithm1_autoattack",
           configs.SEED_KIND: "table1_seed", configs.SCORE_KIND: "algorithm1_score", configs.ARM_KIND: "algorithm1_arm",
           budgets.KIND: "budget_eval", budgets.CW_NORMS_KIND: "budget_cw_norms", trades_check.KIND: "trades_check",
           pays.POINT_KIND: "pays_point", pays.SEED_CURVES_KIND: "pays_seed", pays.FINAL_KIND: "pays_final",
           grid.CELL_KIND: "sweep_cell"}
    assert all(type(kind) is RecordKind and kind.value == value for kind, value in old.items())
    assert {k.value for k in RecordKind} == set(old.values()) | {"mi_estimator", "weight_bound", "theorem3",
                                                                 "budget_cw_strength"}


def test_profiles_hold_their_arms_and_table_s5_methods_as_members():
    for name in PROFILES:
        for arch in ARCHS:
            for dataset in DATASETS:
                run = get_profile(name).for_run(arch, dataset)
                assert all(type(a) is ArmName for a in (*run.arms, *(run.final_autoattack_arms or ())))
                assert all(type(m) is TrainingMode for m in run.table_s5_methods)
                assert all(type(a) is ArmName for fb in (4, 12, 16) for a in cell_arms(run, arch, fb))


def test_the_pages_kinds_are_record_kinds():
    assert all(type(kind) is RecordKind for page in PAGES for kind, _ in page.kinds)
    with pytest.raises(ValueError, match="Unknown record kind 'tabel1'; valid record kinds: algorithm1_trial, "):
        Page("x", "x", 0, kinds=(("tabel1", "row"),))


def test_a_profile_built_with_an_unknown_arm_or_method_is_refused():
    smoke = get_profile("smoke")
    with pytest.raises(ValueError, match="Unknown arm 'random-fa'; valid arms: algorithm1, random_fa, "):
        dataclasses.replace(smoke, arms=("algorithm1", "random-fa"))
    with pytest.raises(ValueError, match="Unknown arm 'nope'"):
        dataclasses.replace(smoke, final_autoattack_arms=("nope",))
    with pytest.raises(ValueError, match="Unknown training mode 'pgd'; valid training modes: standard, "):
        dataclasses.replace(smoke, table_s5_methods=("pgd",))
    overridden = dataclasses.replace(smoke, arch_overrides={"vgg16": {"arms": ("algorithm1", "nope")}})
    with pytest.raises(ValueError, match="Unknown arm 'nope'"):
        overridden.for_run("vgg16", "digits")  # what RunConfig resolves at construction


# ---------------------------------------------------------------- every record kind written is a member

def test_every_record_kind_the_library_writes_or_reads_is_a_member():
    calls, problems = library_store_kinds()
    assert not problems, "record kinds that are not RecordKind members:\n" + "\n".join(problems)
    assert len(calls) > 30, calls  # the reader found the store calls
    found = {kind for _, _, kind in calls}
    assert found == set(RecordKind), f"members no library code writes or reads: {set(RecordKind) - found}"
    assert {kind for _, _, kind in library_store_kinds(calls=("write",))[0]} == set(RecordKind)  # no member unwritten


def test_the_kind_reader_flags_a_kind_that_is_not_a_member():
    probe = """
from semirobust.names import RecordKind
from semirobust.results import ResultsStore, record_hash
KIND = "budget_eval"
TYPO = "tabel1"

def run(store, root, cell, kind):
    store.write(RecordKind.TABLE1, {}, {})
    cell.store.read(RecordKind.TABLE1_SEED, {})
    ResultsStore(root).write("theorem3", {}, {})
    store.read(KIND, {})
    record_hash(TYPO, {})
    store.records(kind)
    other.read("not a store call", {})
"""
    namespace = {}
    exec(compile(probe, "probe.py", "exec"), namespace)  # module level only: run() is not called
    found, problems = store_kinds(probe, namespace, "probe.py")
    assert found == [(8, RecordKind.TABLE1), (9, RecordKind.TABLE1_SEED)]
    assert [p.split(" ")[0] for p in problems] == ["probe.py:10", "probe.py:11", "probe.py:12", "probe.py:13"]
    assert "'theorem3' is not" in problems[0] and "'tabel1' is not" in problems[2] and "not resolved" in problems[3]
