"""Replay of deployment code as written: issue 14's items, for both frameworks."""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import sys
import warnings

import pytest

from ncplace import Error, Instance, Mix, Model, PlacementError, Runtime
from ncplace.cli import main
from ncplace.dryrun import driver, replay, replay_report

INST = Instance(cores=8, cores_per_chip=4)
BOTH = ["torch-neuron", "torch-neuronx"]
IMPORT = {
    "torch-neuron": "import torch.neuron as nrt",
    "torch-neuronx": "import torch_neuronx as nrt",
}


def one_model(framework: str, **fields: object) -> Mix:
    return Mix([Model("m", cores=1, file="m.pt", **fields)], instance=INST, framework=framework)


def two_models(framework: str) -> Mix:
    return Mix(
        [Model("bert", cores=1, file="bert.pt"), Model("resnet", cores=1, file="out/resnet.pt")],
        instance=INST,
        framework=framework,
    )


def loads(layout):
    return [(p.model, p.replicas, p.process) for p in layout.placements]


# --- 1. module names ---------------------------------------------------------------------------


def test_torch_neuron_is_also_torch_dot_neuron():
    code = """
import torch.neuron
import torch_neuron
from torch.neuron import experimental
assert torch.neuron is torch_neuron and experimental is torch_neuron.experimental
with torch.neuron.experimental.neuron_cores_context(start_nc=2, nc_count=2):
    m = torch.jit.load('m.pt')
"""
    layout = replay(code, one_model("torch-neuron"))
    assert loads(layout) == [("m", ((2,), (3,)), 0)]


@pytest.mark.parametrize("name", ["torch_neuronx", "torch_neuronx.experimental"])
def test_torch_neuronx_beta_and_ga_context_names(name):
    code = f"""
import torch, torch_neuronx
from {name} import neuron_cores_context, multicore_context
with neuron_cores_context(start_nc=1, nc_count=2):
    a = torch.jit.load('m.pt')
with multicore_context():
    b = torch.jit.load('m.pt')
"""
    layout = replay(code, one_model("torch-neuronx"))
    assert loads(layout) == [("m", ((1,), (2,)), 0), ("m", tuple((c,) for c in range(8)), 0)]


# --- 2. the rest of torch ----------------------------------------------------------------------

REST_OF_TORCH = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
{imp}

torch.manual_seed(0)
device = torch.device("cpu")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return F.relu(self.fc(x))

net = Net().to(device).eval().half()
assert isinstance(net, Net) and isinstance(net, nn.Module) is False or True
x = torch.rand(8, 16, dtype=torch.float16)
y = torch.zeros(8) + torch.tensor([1.0]) * 2
assert x.dtype == x.dtype and x.dtype != torch.float32
batch, labels = next(iter(DataLoader(TensorDataset(x, y), batch_size=4)))
rows = [row for row in DataLoader(TensorDataset(x, y))]
assert len(rows) == 2
with torch.no_grad():
    m = torch.jit.load("m.pt").eval().to(device).half()
    out = m(x)
    a, b, c = out.topk(3)
    print(f"{{out.mean():.3f}} {{out[0, :2]}} {{int(out.argmax())}} {{float(out.sum())}}")
    for i in range(int(out.shape[0])):
        value = out[i].item() > 0.5
assert str(out).startswith("<stand-in")
"""


@pytest.mark.parametrize("framework", BOTH)
def test_the_rest_of_torch_is_inert_and_a_loaded_model_returns_an_inert_tensor(framework):
    report = replay_report(REST_OF_TORCH.format(imp=IMPORT[framework]), one_model(framework))
    assert loads(report.fullest) == [("m", ((0,),), 0)]
    assert report.stood_in == () and report.notes == ()


# --- 3. compiling in the same process ----------------------------------------------------------


def test_torch_neuron_loads_a_trace_at_its_first_call():
    traced_only = "import torch, torch_neuron\nm = torch.neuron.trace(torch.nn.Linear(1, 1), [1])\n"
    assert replay(traced_only, one_model("torch-neuron")).placements == ()
    called = traced_only + "first = torch.jit.load('m.pt')\nm(1)\nm(2)\n"
    assert loads(replay(called, one_model("torch-neuron"))) == [
        ("m", ((0,),), 0),
        ("m", ((1,),), 0),
    ]


def test_torch_neuronx_loads_a_trace_when_tracing_ends():
    code = "import torch, torch_neuronx\nm = torch_neuronx.trace(torch.nn.Linear(1, 1), 1)\n"
    assert loads(replay(code, one_model("torch-neuronx"))) == [("m", ((0,),), 0)]


@pytest.mark.parametrize("framework", BOTH)
def test_a_trace_is_named_by_its_save_path_or_its_variable(framework):
    trace = "torch_neuronx.trace" if framework == "torch-neuronx" else "torch.neuron.trace"
    mod = "torch_neuronx" if framework == "torch-neuronx" else "torch_neuron"
    code = f"""
import torch, {mod}
class Server:
    def __init__(self):
        self.bert = {trace}(torch.nn.Linear(1, 1), 1)
        self.bert(1)
server = Server()
resnet = {trace}(
    torch.nn.Linear(1, 1),
    1,
)
resnet(1)
"""
    assert sorted(loads(replay(code, two_models(framework)))) == [
        ("bert", ((0,),), 0),
        ("resnet", ((1,),), 0),
    ]
    if framework == "torch-neuron":
        saved = "import torch, torch_neuron\nx = torch.neuron.trace(1, 1)\n"
        saved += "torch.jit.save(x, 'out/resnet.pt')\nx(1)\n"
        assert loads(replay(saved, two_models(framework))) == [("resnet", ((0,),), 0)]


def test_an_unnamed_trace_in_a_mix_of_several_models_is_an_error():
    code = "import torch, torch_neuronx\nmodel_neuron = torch_neuronx.trace(1, 1)\n"
    with pytest.raises(
        Error,
        match=r"^<replay>, line 2: cannot tell which model of the mix this traced model is "
        r"\('model_neuron'\); assign it to a variable named as the model",
    ):
        replay(code, two_models("torch-neuronx"))


# --- 4. DataParallel ---------------------------------------------------------------------------


@pytest.mark.parametrize("framework", BOTH)
def test_data_parallel_puts_a_copy_on_every_visible_core_or_on_device_ids(framework):
    head = f"import os, torch\n{IMPORT[framework]}\n"
    head += "os.environ['NEURON_RT_VISIBLE_CORES'] = '2-5'\nm = torch.jit.load('m.pt')\n"
    every = head + "p = nrt.DataParallel(m)\np.disable_dynamic_batching()\np(1)\n"
    assert loads(replay(every, one_model(framework))) == [("m", ((2,), (3,), (4,), (5,)), 0)]
    chosen = head + "p = nrt.DataParallel(m, device_ids=[0, 'nc:3'], dim=0)\n"
    assert loads(replay(chosen, one_model(framework))) == [("m", ((2,),), 0), ("m", ((5,),), 0)]
    if framework == "torch-neuronx":
        batching = head + "p = nrt.DataParallel(m, set_dynamic_batching=False)\n"
        assert len(replay(batching, one_model(framework)).placements[0].replicas) == 4
    bad = head + "p = nrt.DataParallel(m, device_ids=['gpu:0'])\n"
    with pytest.raises(PlacementError, match=r"line 5: DataParallel device_ids: 'gpu:0' is not"):
        replay(bad, one_model(framework))


# --- 5. moving loaded models -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "api"),
    [
        ("torch-neuron", "torch_neuron.experimental"),
        ("torch-neuronx", "torch_neuronx"),
        ("torch-neuronx", "torch_neuronx.experimental"),
    ],
)
def test_set_neuron_cores_and_set_multicore_move_a_loaded_or_traced_model(framework, api):
    top = api.partition(".")[0]
    code = f"""
import torch, {top}
from {api} import set_neuron_cores, set_multicore
a = torch.jit.load('m.pt')
set_neuron_cores(a, 3, 2)
b = {top}.trace(1, 1)
set_multicore(b)
"""
    assert loads(replay(code, one_model(framework))) == [
        ("m", ((3,), (4,)), 0),
        ("m", tuple((c,) for c in range(8)), 0),
    ]


# --- 6. unloading ------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", BOTH)
def test_a_model_is_unloaded_when_its_last_reference_goes(framework):
    code = f"""
import torch
{IMPORT[framework]}
a = torch.jit.load('m.pt')      # nc0
a = torch.jit.load('m.pt')      # nc1, then the first is freed
b = torch.jit.load('m.pt')
del b
def scoped():
    c = torch.jit.load('m.pt')
scoped()
kept = [torch.jit.load('m.pt')]
"""
    report = replay_report(code, one_model(framework))
    assert len(report.fullest.placements) == 2
    assert [p.model for p in report.at_exit.placements] == ["m", "m"]
    assert report.fullest.placements == report.at_exit.placements
    last = code + "del kept\n"
    report = replay_report(last, one_model(framework))
    assert len(report.fullest.placements) == 2 and len(report.at_exit.placements) == 1


# --- 7. other imports, network, subprocesses, files --------------------------------------------


def test_modules_not_installed_stand_in_and_installed_ones_are_real(tmp_path):
    (tmp_path / "helpers.py").write_text(
        "import torch\nimport not_installed_either\n"
        "def load():\n    return torch.jit.load('m.pt')\n"
    )
    script = tmp_path / "serve.py"
    script.write_text(
        "import json, helpers, importlib\nimport transformers_xyz.models as tm\n"
        "from PIL_xyz import Image\nimportlib.import_module('cv2_xyz')\n"
        "import numpy\nassert json.dumps([1]) == '[1]' and numpy.arange(3).sum() == 3\n"
        "assert __name__ == '__main__'\nm = helpers.load()\n"
    )
    report = replay_report(script.read_text(), one_model("torch-neuron"), filename=str(script))
    assert report.stood_in == ("not_installed_either", "transformers_xyz", "PIL_xyz", "cv2_xyz")
    assert loads(report.fullest) == [("m", ((0,),), 0)]
    stubbed = replay_report(
        "import numpy\nassert str(numpy.arange).startswith('<stand-in')\n",
        one_model("torch-neuron"),
        stubs=["numpy"],
    )
    assert stubbed.stood_in == ("numpy",)


def test_a_missing_import_inside_an_installed_library_stays_an_error():
    code = "import json\nexec('import json.no_such_submodule', vars(json))\n"
    with pytest.raises(Error, match=r"ModuleNotFoundError: No module named 'json\.no_such"):
        replay(code, one_model("torch-neuron"))


def test_network_subprocesses_and_files_are_refused_with_notes(tmp_path):
    target = tmp_path / "written.txt"
    code = f"""
import os, socket, subprocess, urllib.request
try:
    socket.create_connection(("example.com", 80))
except OSError as exc:
    assert "refused by the replay" in str(exc)
assert urllib.request.urlopen("https://example.com/x").read() == b""
assert subprocess.run(["neuron-ls"], capture_output=True, text=True).stdout == ""
assert subprocess.check_output("neuron-top", shell=True) == b""
assert os.system("rm -rf /") == 0
assert open("no-such-file.json").read() == ""
with open({str(target)!r}, "w") as f:
    f.write("kept in the temporary folder")
assert open({str(target)!r}).read() == "kept in the temporary folder"
os.remove({str(target)!r})
"""
    report = replay_report(code, one_model("torch-neuron"))
    assert report.notes == (
        "<replay>: network access refused (never attempted): ('example.com', 80)",
        "<replay>: network access refused (never attempted): https://example.com/x",
        "<replay>: subprocess refused (never started): neuron-ls",
        "<replay>: subprocess refused (never started): neuron-top",
        "<replay>: subprocess refused (never started): rm -rf /",
        "<replay>: no-such-file.json: no such file, read as empty",
        f"<replay>: {target}: written to the replay's temporary folder instead",
        f"<replay>: os.remove({str(target)!r}) refused: the replay changes no file",
    )
    assert not target.exists()


def test_starting_processes_from_a_script_is_refused():
    code = "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\n"
    with pytest.raises(
        Error, match=r"line 3: the script raised PermissionError: os.fork is refused by the replay"
    ):
        replay(code, one_model("torch-neuron"))


# --- 8. several processes ----------------------------------------------------------------------


def test_several_scripts_and_one_environment_per_process():
    code = "import torch, torch_neuronx\nm = torch.jit.load('m.pt')\n"
    layout = replay(
        [code, code, code],
        one_model("torch-neuronx"),
        env=[
            {"NEURON_RT_NUM_CORES": "2"},
            {"NEURON_RT_VISIBLE_CORES": "6"},
            {"NEURON_RT_NUM_CORES": "3"},
        ],
        framework="torch-neuronx",
    )
    assert [p.cores for p in layout.processes] == [(0, 1), (6,), (2, 3, 4)]
    assert loads(layout) == [("m", ((0,),), 0), ("m", ((6,),), 1), ("m", ((2,),), 2)]
    with pytest.raises(Error, match=r"replay env: 2 environment\(s\) for 3 script\(s\)"):
        replay([code] * 3, one_model("torch-neuronx"), env=[{}, {}])


HANDLER = """
import os, json, torch
{imp}
class Handler:
    def initialize(self, context):
        if isinstance(context, dict) and "model_instance_name" in context:
            index = int(context["model_instance_name"].split("_")[-1])
            assert json.loads(context["model_config"])["instance_group"][0]["count"] == 2
        index = context.system_properties["gpu_id"]
        os.environ["NEURON_RT_VISIBLE_CORES"] = str(index * 2)
        self.model = torch.jit.load(context.manifest["model"]["serializedFile"])

if __name__ == "__main__":
    raise SystemExit("a server imports the handler; its main block does not run")
"""


@pytest.mark.parametrize("framework", BOTH)
def test_an_entry_drives_a_server_handler_once_per_worker(framework):
    code = HANDLER.format(imp=IMPORT[framework])
    layout = replay(
        [code, code], one_model(framework), filename="handler.py", entry="Handler.initialize"
    )
    assert loads(layout) == [("m", ((0,),), 0), ("m", ((2,),), 1)]
    with pytest.raises(
        Error,
        match=r"^handler.py\[0\]: --entry Nope.initialize: the script defines no class 'Nope'",
    ):
        replay([code, code], one_model(framework), filename="handler.py", entry="Nope.initialize")
    with pytest.raises(Error, match=r"entry 'Handler': expected Class.method"):
        replay(code, one_model(framework), entry="Handler")


def test_the_cli_runs_script_n_with_per_process_environments(capsys, tmp_path):
    mix = tmp_path / "mix.yaml"
    mix.write_text("instance: inf2.24xlarge\nmodels:\n  - name: m\n    file: m.pt\n")
    worker = tmp_path / "worker.py"
    worker.write_text(
        "import os, torch, torch_neuronx\n"
        "rank = int(os.environ['LOCAL_RANK'])\n"
        "assert os.environ['WORLD_SIZE'] == '3'\n"
        "os.environ.setdefault('NEURON_RT_VISIBLE_CORES', str(rank))\n"
        "m = torch.jit.load('m.pt')\n"
    )
    code = main(
        [
            "replay",
            f"{worker}:3",
            "--mix",
            str(mix),
            "--env",
            "2:NEURON_RT_VISIBLE_CORES=9",
            "--env",
            "EVERYONE=1",
            "--no-optimizer",
            "--format",
            "json",
        ]
    )
    data = __import__("json").loads(capsys.readouterr().out)
    assert code == 0
    assert [p["cores"] for p in data["layout"]["processes"]] == [[0], [1], [9]]
    assert data["processes"][2]["env"] == {
        "RANK": "2",
        "LOCAL_RANK": "2",
        "WORLD_SIZE": "3",
        "LOCAL_WORLD_SIZE": "3",
        "NEURON_RT_VISIBLE_CORES": "9",
        "EVERYONE": "1",
    }
    code = main(["replay", str(worker), "--mix", str(mix), "--env", "1:X=1"])
    assert code == 2
    assert capsys.readouterr().err == "ncplace: error: --env 1:X=1: there are 1 process(es), 0-0\n"


# --- 9. tensor-parallel loads ------------------------------------------------------------------


def tensor_mix() -> Mix:
    return Mix(
        [Model("llama", cores=4, parallel="tensor", file="llama-split"), Model("small", cores=1)],
        instance=INST,
        framework="torch-neuronx",
    )


@pytest.mark.parametrize(
    "load",
    [
        "from neuronx_distributed.trace import parallel_model_trace\n"
        "llama = parallel_model_trace(lambda: None, (1,), tp_degree=4)\n",
        "import neuronx_distributed\n"
        "model = neuronx_distributed.trace.parallel_model_load('llama-split')\n",
        "from transformers_neuronx.llama.model import LlamaForSampling\n"
        "model = LlamaForSampling.from_pretrained('llama-split', tp_degree=4, amp='f16')\n"
        "model.to_neuron()\nmodel.sample(1, sequence_length=8)\n",
    ],
)
def test_tensor_parallel_loads_take_k_consecutive_cores_of_the_process(load):
    code = "import os, torch\nos.environ['NEURON_RT_VISIBLE_CORES'] = '2-7'\n" + load
    assert loads(replay(code, tensor_mix())) == [("llama", ((2, 3, 4, 5),), 0)]


def test_tensor_parallel_errors():
    code = "from transformers_neuronx import GPT2ForSampling\n"
    code += "GPT2ForSampling.from_pretrained('llama-split', tp_degree=2).to_neuron()\n"
    with pytest.raises(
        PlacementError,
        match="'llama' has cores: 4 in the mix, but the script loads it with tp_degree=2",
    ):
        replay(code, tensor_mix())
    narrow = "import os\nos.environ['NEURON_RT_NUM_CORES'] = '2'\n"
    narrow += (
        "from neuronx_distributed.trace import parallel_model_load as load\nm = load('llama')\n"
    )
    with pytest.raises(
        PlacementError, match="4 tensor-parallel ranks need 4 cores but the process owns 2"
    ):
        replay(narrow, tensor_mix())
    rt = Runtime(INST, "torch-neuronx")
    assert rt.start_process().load_ranks("x", 3).replicas == ((0, 1, 2),)


# --- 10. the caller's process is left as it was ------------------------------------------------

HOSTILE = """
import os, sys, signal, atexit, logging, warnings, builtins, threading, ctypes
os.chdir("/")
os.environ["NCPLACE_LEAK"] = "1"
os.putenv("NCPLACE_C_LEAK", "1")
sys.path.insert(0, "/nowhere")
sys.modules["json"] = None
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.setrecursionlimit(500)
atexit.register(print, "leaked atexit")
logging.getLogger().setLevel(logging.CRITICAL)
logging.getLogger().addHandler(logging.StreamHandler())
warnings.simplefilter("ignore")
sys.stdout.write("noise")
os.write(1, b"noise at fd level")
print("noise", file=sys.stderr)
import torch, torch_neuron
m = torch.jit.load('m.pt')
builtins.len = None
"""


LAST = HOSTILE.count("\n") + 1


def test_nothing_a_script_does_reaches_the_caller(capsys):
    def state():
        return (
            os.getcwd(),
            dict(os.environ),
            ctypes.CDLL(None).getenv(b"NCPLACE_C_LEAK"),
            list(sys.path),
            dict(sys.modules),
            signal.getsignal(signal.SIGTERM),
            sys.getrecursionlimit(),
            atexit._ncallbacks(),
            logging.getLogger().level,
            list(logging.getLogger().handlers),
            list(warnings.filters),
            len,
        )

    before = state()
    for ending in ["", "sys.exit(0)\n", "os._exit(0)\n"]:
        layout = replay(HOSTILE + ending, one_model("torch-neuron"))
        assert loads(layout) == [("m", ((0,),), 0)]
        assert state() == before
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("ending", "message"),
    [
        ("sys.exit(3)", r"^<replay>: the script exited with status 3$"),
        ("os._exit(5)", r"^<replay>: the script exited with status 5$"),
        (
            "raise KeyboardInterrupt",
            rf"^<replay>, line {LAST}: the script raised KeyboardInterrupt$",
        ),
        (
            "raise BaseException('out')",
            rf"^<replay>, line {LAST}: the script raised BaseException: out$",
        ),
        (
            "import posix; posix._exit(0)",
            r"^<replay>: the script's process ended before the replay could read its layout "
            r"\(os._exit\(0\) or a crash\)$",
        ),
        (
            "os.kill(os.getpid(), signal.SIGKILL)",
            r"^<replay>: the script's process ended before the replay could read its layout "
            r"\(killed by signal 9\)$",
        ),
    ],
)
def test_exits_and_interrupts_end_the_replay_with_one_line(ending, message):
    before = dict(os.environ), os.getcwd()
    with pytest.raises(Error, match=message):
        replay(HOSTILE + ending + "\n", one_model("torch-neuron"))
    assert (dict(os.environ), os.getcwd()) == before


def test_threads_are_joined_for_a_bounded_time_then_abandoned(monkeypatch):
    monkeypatch.setattr(driver, "THREAD_WAIT_S", 0.2)
    code = """
import threading, time, torch, torch_neuron
def serve():
    time.sleep(0.001)
    global late
    late = torch.jit.load('m.pt')
threading.Thread(target=serve).start()
stop = threading.Event()
threading.Thread(target=stop.wait, name="forever").start()
"""
    report = replay_report(code, one_model("torch-neuron"))
    assert loads(report.fullest) == [("m", ((0,),), 0)]
    assert report.notes == ("<replay>: thread 'forever' still running after 0.2 s: abandoned",)


def test_a_script_that_does_not_end_is_stopped_at_the_timeout():
    with pytest.raises(Error, match=r"^<replay>: the script did not end within 0.5 s"):
        replay("while True:\n    pass\n", one_model("torch-neuron"), timeout=0.5)


def test_the_cli_writes_where_it_was_asked_whatever_the_script_does(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mix.yaml").write_text(
        "instance: inf1.xlarge\nmodels:\n  - name: m\n    file: m.pt\n"
    )
    (tmp_path / "serve.py").write_text(HOSTILE)
    args = ["replay", "serve.py", "--mix", "mix.yaml", "--no-optimizer", "-o", "out.txt"]
    assert main(args) == 0
    assert (tmp_path / "out.txt").read_text().startswith("serve.py: replayed on inf1.xlarge")
    (tmp_path / "bad.py").write_text("raise KeyboardInterrupt\n")
    assert main(["replay", "bad.py", "--mix", "mix.yaml"]) == 2
    assert capsys.readouterr().err == (
        "ncplace: error: bad.py, line 1: the script raised KeyboardInterrupt\n"
    )


def test_classes_deriving_from_several_stand_ins_and_abc_are_real_classes():
    code = """
from abc import ABC, abstractmethod
import torch, torch_neuron
from transformers import PreTrainedModel
from ts.torch_handler.base_handler import BaseHandler

class Model(torch.nn.Module, PreTrainedModel, ABC):
    @abstractmethod
    def head(self): ...

class Concrete(Model):
    def head(self):
        return torch.jit.load('m.pt')

class Handler(BaseHandler, ABC):
    pass

loaded = Concrete().eval().head()
assert isinstance(Concrete(), Model) and Handler.from_pretrained is Handler.from_pretrained
try:
    Model()
except TypeError as exc:
    assert "abstract" in str(exc)
"""
    report = replay_report(code, one_model("torch-neuron"), stubs=["transformers", "ts"])
    assert loads(report.fullest) == [("m", ((0,),), 0)]
