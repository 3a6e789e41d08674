from __future__ import annotations

import pytest

from dagflow import DAG, Param
from dagflow.exceptions import ParamValidationError
from dagflow.sdk.params import ParamsDict


def test_param_validation_with_json_schema() -> None:
    p = Param(5, type="integer", minimum=1, maximum=10, description="how many")
    assert p.resolve() == 5
    assert p.resolve(7) == 7
    with pytest.raises(ParamValidationError, match="'n'.*11 is greater than the maximum of 10"):
        p.resolve(11, name="n")
    with pytest.raises(ParamValidationError, match="is not of type 'integer'"):
        p.resolve("x")
    assert Param("dev", enum=["dev", "prod"]).resolve("prod") == "prod"
    with pytest.raises(ParamValidationError, match="is not one of"):
        Param("dev", enum=["dev", "prod"]).resolve("qa")
    assert p.dump() == {
        "value": 5,
        "description": "how many",
        "schema": {"type": "integer", "minimum": 1, "maximum": 10},
    }


def test_param_without_default() -> None:
    with pytest.raises(ParamValidationError, match="no value"):
        Param(type="string").resolve(name="who")
    assert Param(None, type=["null", "string"]).resolve() is None


def test_format_checked() -> None:
    with pytest.raises(ParamValidationError):
        Param("not-a-date", type="string", format="date").resolve()
    assert Param("2024-01-02", type="string", format="date").resolve() == "2024-01-02"


def test_params_dict_values_and_resolve_with_conf() -> None:
    d = DAG("p", params={"env": Param("dev", enum=["dev", "prod"]), "n": 1})
    assert isinstance(d.params, ParamsDict)
    assert d.params["env"] == "dev" and d.params["n"] == 1
    assert isinstance(d.params.get_param("env"), Param)
    assert d.params.validate() == {"env": "dev", "n": 1}
    assert d.params.resolve({"env": "prod", "extra": True}) == {"env": "prod", "n": 1, "extra": True}
    with pytest.raises(ParamValidationError) as err:
        d.params.resolve({"env": "staging"})
    assert "\n" not in str(err.value) and "'env'" in str(err.value)


def test_setting_plain_value_keeps_schema() -> None:
    params = ParamsDict({"n": Param(1, type="integer")})
    params["n"] = "oops"
    with pytest.raises(ParamValidationError):
        params.validate()
    params.update({"n": 3})
    assert params.validate() == {"n": 3}
