"""Finding the official benchmark files: $ECLIPSE_BENCH_DATA, the user cache, or a pinned download.

Files are never shipped with eclipse-bench. Each is pinned to an upstream commit and a sha256.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from eclipse_bench.errors import UserError
from eclipse_bench.paths import cache_dir


@dataclass(frozen=True)
class Upstream:
    repo: str
    commit: str
    path: str  # folder inside the upstream repository


T2I = Upstream("Karine-Huang/T2I-CompBench", "1b7094991a57f3c22abdd4f6e8ba6c1a15517073", "examples/dataset")
T2I_2023 = Upstream("Karine-Huang/T2I-CompBench", "7728deac05e17903b3145befd9b7207c7c019573", "examples/dataset")
GENEVAL = Upstream("djghosh13/geneval", "af4902f24d3ca90ebbb446dd9891a59e0f82725f", "prompts")
HRS = Upstream("eslambakr/HRS_benchmark", "4df908c87f6139dfe4164901b7227b4f69ff3d7f",
               "codes/prompt_gen/generated_prompts")

# local relative path -> (upstream, sha256 of the pinned file)
PINNED: dict[str, tuple[Upstream, str]] = {
    "t2i_compbench/color_val.txt": (T2I, "1634259756dbc77d13093d907d414480080ec9790a8c97ad09efaea7b2534f2d"),
    "t2i_compbench/shape_val.txt": (T2I, "37e1a276906c7ea9516cbd7ac8501be896006c0c17ca7344f260562834455bae"),
    "t2i_compbench/texture_val.txt": (T2I, "fbb5363515b4a28009e360afaaaf389d2dd2289e50dbb0c6ef4ea0c7fe4f3d4f"),
    "t2i_compbench/spatial_val.txt": (T2I, "8707a1d7e42ce3002d95363cf55f74bd043c843ae27108f5125aaaa7840ca988"),
    "t2i_compbench/non_spatial_val.txt": (T2I, "04c56cc9ac441dc9ea6c5157652058bd1635b5308526dd31bb29a1caab9a758d"),
    "t2i_compbench/complex_val.txt": (T2I, "1b808018b8d9916db3d47d5aa2ef18377a3549a56901a474156f799824cdf3b4"),
    "t2i_compbench/complex_val_action.txt": (T2I, "d49ee4c7f99e3f3379fb8704a54ff5288b83bb412971edf616a4721c2473308e"),
    "t2i_compbench/complex_val_spatial.txt": (T2I, "6c7ac0ab75c7c9080cfc7b421fb059b9b0febb98471707aeedf58771088abc02"),
    "t2i_compbench/complex_val_spatialaction.txt": (T2I, "e02ddc7fed812e6577e7386ec2137ce0a994a5ce19771661f68df7ac349a6ca9"),
    "t2i_compbench/numeracy_val.txt": (T2I, "dad8df141604b70ba7554bec724e3db0a80023680769b5c514854ea2d2527bbe"),
    # T2I-CompBench++ numeracy's object vocabulary ('singular - plural' per line)
    "t2i_compbench/new_objects.txt": (T2I, "f39a3d2ff6067d7738673cbf465dc659ccc750776162989a5d9916f1d5f3e231"),
    "t2i_compbench/color_train.txt": (T2I, "db5d3287027d453f8c977f0c7315f8a01a770f02f61fa54ae19406762982393f"),
    "t2i_compbench/color.txt": (T2I, "e3034f86a70c3422dd7157c050dc9c8346a32162a3f1165302c9dba05c4f48f3"),
    "t2i_compbench/shape_train.txt": (T2I, "451bdfccd330d4cf979d45664817be7959e89250b93d5c591cc562b858175a87"),
    "t2i_compbench/shape.txt": (T2I, "571dfc71ecbea33aa4e504acbe0a7519780920012d9ad360aa212e7e4b6eb6df"),
    "t2i_compbench/texture_train.txt": (T2I, "4846315c5972f9e9cc82e4833099e8ec2c28b999ca77269512715f3f56bde54f"),
    "t2i_compbench/texture.txt": (T2I, "9957553c3e653ab54660454615ea5f3c9d4b807eca9c13b44cb9679d3f2c425e"),
    "t2i_compbench/spatial_train.txt": (T2I, "af14cdf2320057d98f94077e6211c2ddfaabfbb9e3842873657baabb17e00de6"),
    "t2i_compbench/spatial.txt": (T2I, "66f6b1dcf335389111a0379357fbf5233498e67ba15251ee0f7de2f1ac620ae1"),
    "t2i_compbench/non_spatial_train.txt": (T2I, "dbac5a9ec83204dcd0c3538a12d3212e2ce66db6f7ba45b49a1d869b2d3f2430"),
    "t2i_compbench/non_spatial.txt": (T2I, "90ae0e995992768d8ddb862d821733103ebf822668a42c857862cc71018a0009"),
    "t2i_compbench/complex_train.txt": (T2I, "d214ac45cb3c5307dd14a144c8c69aa5ffdcc7be74ff71b5dac989f8ca9f924b"),
    "t2i_compbench/complex.txt": (T2I, "58c982554cfe40bedafe3fb495f18196bc0d3905f94b984e0580b24cb624f171"),
    "t2i_compbench/numeracy_train.txt": (T2I, "f66bb8708cb0be23c0406e14d892b25661b2b71e3e72abddc79c38466ab629c6"),
    "t2i_compbench/numeracy.txt": (T2I, "ba97b876f32f6cac34507a085c7e7ecc6079641b5cbd0fc0c1eb5240ac4b64f0"),
    "t2i_compbench/pre_2025-09_color_dedup/color_val.txt": (T2I_2023, "1e37a12c1861bf6b11623eaffb0bf6d6eeea9702caf45b95d040f1721bba7f4f"),
    "geneval/evaluation_metadata.jsonl": (GENEVAL, "5c48e0813e812e3c373fa5c8ed07a8f0a483be30272b4427b0559c8048e67c13"),
    "geneval/object_names.txt": (GENEVAL, "608f6a0e5c8ca1c7a92b818430141fe268c85b7930b50f4160f1d65893b5bacd"),
    "hrs_bench/colors_composition_prompts.csv": (HRS, "548afc5429768e4670f0745d2e5e8993dbede8174a59248b0ba807a4649a830f"),
    "hrs_bench/counting_prompts.csv": (HRS, "ada42b43127790d4b82cf137d5571e4177737bba7bfd1f16440858b5ebc4293b"),
    "hrs_bench/size_compositions_prompts.csv": (HRS, "742dbb0fccf1b34683baa7ced678970ded20889440f516d0c36937ef3c4d8f53"),
    "hrs_bench/spatial_compositions_prompts.csv": (HRS, "257c11128510b524b975e16e74b079e87ccd1e6bd1dcf75723623a5888eae3ab"),
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def upstream_url(relpath: str) -> str:
    up, _ = PINNED[relpath]
    name = relpath.split("/")[-1]
    return f"https://raw.githubusercontent.com/{up.repo}/{up.commit}/{up.path}/{name}"


def _check(path: Path, relpath: str, where: str) -> Path:
    _, expected = PINNED[relpath]
    if os.environ.get("ECLIPSE_BENCH_VERIFY", "1") != "0" and sha256_file(path) != expected:
        up = PINNED[relpath][0]
        raise UserError(
            f"{path} ({where}) does not match the pinned {up.repo}@{up.commit[:10]} file (sha256 differs); "
            f"replace it with the pinned file, or set ECLIPSE_BENCH_VERIFY=0 to use it anyway"
        )
    return path


def locate(relpath: str, download: bool = True) -> Path:
    """Path of an official benchmark file, downloading and verifying it if needed."""
    if relpath not in PINNED:
        raise KeyError(relpath)
    data = os.environ.get("ECLIPSE_BENCH_DATA")
    if data:
        candidate = Path(data).expanduser() / relpath
        if candidate.is_file():
            return _check(candidate, relpath, "from $ECLIPSE_BENCH_DATA")
    cached = cache_dir() / "benchmarks" / relpath
    if cached.is_file():
        return _check(cached, relpath, "in the user cache")
    if not download:
        raise _missing(relpath, cached, "downloads disabled")
    url = upstream_url(relpath)
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            payload = resp.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _missing(relpath, cached, f"download failed: {getattr(exc, 'reason', exc)}") from None
    got = hashlib.sha256(payload).hexdigest()
    if got != PINNED[relpath][1]:
        raise UserError(f"downloaded {url} but its sha256 {got[:12]}... is not the pinned one; try again later")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
        tmp.write(payload)
    os.replace(tmp.name, cached)
    return cached


def _missing(relpath: str, cached: Path, why: str) -> UserError:
    return UserError(
        f"benchmark file {relpath} not found ({why}); put the official files under $ECLIPSE_BENCH_DATA "
        f"(e.g. ECLIPSE_BENCH_DATA=/path/to/benchmarks with {relpath} inside), or copy it to {cached}, "
        f"or run `eclipse-bench suites fetch` on a machine with internet access"
    )
