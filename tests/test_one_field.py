"""Adding a field is one row in reconciler/fields.py: with that row alone, validate, plan,
apply (never blanking it on a customer that does not declare it), import --generate-yaml,
fmt and the schemas handle it.

The test copies the package, adds the row `company` (text, 45 characters, sanitizeText), and
gives the copy's sandbox the column (the server side, which the real store would have), then
runs the commands in a child process on that copy."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from tests.conftest import ROOT

ROW = '    Field("notes", Kind.TEXT),\n'
NEW_ROW = ROW + '    Field("company", Kind.TEXT, SHORT_COLUMN, Rule.TEXT),\n'

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from click.testing import CliRunner
    from reconciler.jsonschemas import load_schema
    from reconciler.main import cli
    from reconciler.sandbox import Sandbox, Store
    from reconciler.sandbox.server import default_users

    import reconciler
    assert reconciler.__file__.startswith(sys.argv[2]), reconciler.__file__  # the copy
    root = Path(sys.argv[1])
    store = Store("http://127.0.0.1", "full_name", default_users("admin", "pw pw pw pw"))
    base = {"user_id": "0", "contact_id": "0", "status": "active", "aov": "0.00", "notes": "",
            "country": "", "city": "", "state": "", "postcode": "", "first_name": "T"}
    store.seed({**base, "id": 1, "email": "one@example.org", "last_name": "One",
                "company": "Old Co"})
    store.seed({**base, "id": 2, "email": "two@example.org", "last_name": "Two",
                "company": "Keep Co"})
    store.seed({**base, "id": 3, "email": "three@example.org", "last_name": "Three",
                "company": "Third Co"})
    server = Sandbox(store)
    server.start()
    env = {"FLUENTCART_URL": server.url, "FLUENTCART_USERNAME": "admin",
           "FLUENTCART_APP_PASSWORD": "pw pw pw pw", "FLUENTCART_NO_CACHE": "1"}
    out = {}

    def run(*args):
        result = CliRunner().invoke(cli, ["-C", str(root), *args], env=env)
        return {"code": result.exit_code, "out": result.output}

    (root / "customers").mkdir(parents=True)
    (root / "customers" / "a.yaml").write_text(
        "customers:\\n  - company: New Co\\n    id: 1\\n  - id: 2\\n    city: Oslo\\n")
    out["init"] = run("init")
    out["schema"] = "company" in load_schema("customer")["$defs"]["customer"]["properties"]
    out["sensitive"] = "company" in load_schema("workspace")["properties"]["sensitive"][
        "items"]["enum"]
    out["validate"] = run("validate")
    out["bad"] = run("validate", str(root / "bad.yaml")) if (
        (root / "bad.yaml").write_text("id: 9\\ncompany: '<b>x</b>'\\n")) else None
    out["import"] = run("import")
    out["plan"] = run("plan")
    out["json"] = run("plan", "--format", "json")
    out["apply"] = run("apply", "-auto-approve")
    out["after"] = {i: store.customers[i]["company"] for i in (1, 2)}
    out["again"] = run("plan", "--refresh", "--detailed-exitcode")
    out["fmt"] = run("fmt")
    out["formatted"] = (root / "customers" / "a.yaml").read_text()
    out["generate"] = run("import", "3", "--generate-yaml", "customers", "--per-file", "1")
    out["generated"] = (root / "customers" / "customer-000003.yaml").read_text()
    server.stop()
    print(json.dumps(out))
    """
)


def test_one_row_in_the_field_table_is_all_a_new_field_takes(tmp_path: Path) -> None:
    package = tmp_path / "pkg" / "reconciler"
    shutil.copytree(ROOT / "reconciler", package, ignore=shutil.ignore_patterns("__pycache__"))
    fields = package / "fields.py"
    text = fields.read_text()
    assert ROW in text
    fields.write_text(text.replace(ROW, NEW_ROW))
    # The server's side: the copy's sandbox gets a `company` column, as the store would have.
    store = package / "sandbox" / "store.py"
    server = store.read_text()
    assert server.count('"aov", "notes",') == 4
    server = server.replace('"aov", "notes",', '"aov", "notes", "company",')
    server = server.replace('"postcode": 45}', '"postcode": 45, "company": 45}')
    server = server.replace(
        '"notes": _php_string(customer.get("notes")),',
        '"notes": _php_string(customer.get("notes")),'
        ' "company": _php_string(customer.get("company")),',
    )
    store.write_text(server)
    # -S: no site-packages .pth files, so an editable install cannot win over the copy;
    # the dependencies come from the same site-packages, named on the path.
    paths = sysconfig.get_paths()
    path = os.pathsep.join([str(tmp_path / "pkg"), paths["purelib"], paths["platlib"]])
    child = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT, str(tmp_path / "ws"), str(package)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # -c puts the working directory first on the path
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout.splitlines()[-1])
    assert out["schema"] and out["sensitive"]
    assert out["validate"]["code"] == 0, out["validate"]
    assert out["bad"]["code"] == 1 and "bad.yaml:2" in out["bad"]["out"], out["bad"]
    assert "company" in out["bad"]["out"] and "HTML" in out["bad"]["out"]
    assert out["import"]["code"] == 0, out["import"]
    assert '~ company = "Old Co" -> "New Co"' in out["plan"]["out"], out["plan"]
    names = [f["name"] for c in json.loads(out["json"]["out"])["changes"] for f in c["fields"]]
    assert sorted(names) == ["city", "company"]
    assert out["apply"]["code"] == 0, out["apply"]
    # Customer 2 does not declare it: its PUT carries the store's value, so it is kept.
    assert out["after"] == {"1": "New Co", "2": "Keep Co"}
    assert out["again"]["code"] == 0, out["again"]
    assert out["fmt"]["code"] == 0, out["fmt"]
    assert re.search(r"- id: 1\n    company: New Co\n", out["formatted"]), out["formatted"]
    assert out["generate"]["code"] == 0, out["generate"]
    assert "company: Third Co" in out["generated"], out["generated"]
