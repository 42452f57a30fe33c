"""What users actually send: site lists from spreadsheets, and the three crashes a new user met."""
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from phusong.cli import cli
from phusong.errors import InputError
from phusong.sites import read_sites

HEADER = ["site_id", "cell_id", "lon", "lat", "technology", "frequency_mhz", "antenna_height_m", "tx_power_dbm",
          "operator"]
ROWS = [["S1", "S1-1", 106.7612, 21.8534, "4G", 1800, 30, 46, "Viettel Lạng Sơn"],
        ["S1", "S1-2", 106.7612, 21.8534, "5G", 3500, 30, 49.5, "Viettel Lạng Sơn"]]


def _expected():
    return pd.DataFrame(ROWS, columns=HEADER)


def _same(sites):
    exp = _expected()
    assert list(sites["cell_id"]) == list(exp["cell_id"]) and list(sites["operator"]) == list(exp["operator"])
    np.testing.assert_allclose(sites[["lon", "lat", "frequency_mhz", "tx_power_dbm"]].to_numpy(float),
                               exp[["lon", "lat", "frequency_mhz", "tx_power_dbm"]].to_numpy(float))


def test_excel_vietnamese_locale_semicolons_and_decimal_commas(tmp_path):
    path = tmp_path / "sites.csv"
    lines = [";".join(HEADER)] + [";".join(str(v).replace(".", ",") for v in r) for r in ROWS]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))   # BOM, CRLF: as Excel saves
    _same(read_sites(path))
    result = CliRunner().invoke(cli, ["sites", "validate", str(path)])
    assert result.exit_code == 0 and "2 cells, no problems" in result.output


def test_tab_separated_and_plain_utf8_with_bom(tmp_path):
    path = tmp_path / "sites.txt"
    path.write_text("\ufeff" + "\n".join("\t".join(map(str, r)) for r in [HEADER, *ROWS]) + "\n", encoding="utf-8")
    _same(read_sites(path))


def test_xlsx_first_sheet_or_named_sheet(tmp_path):
    path = tmp_path / "sites.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(xl, sheet_name="Bìa", index=False)
        _expected().to_excel(xl, sheet_name="Trạm", index=False)
    _same(read_sites(path, sheet="Trạm"))
    first = CliRunner().invoke(cli, ["sites", "validate", str(path)])
    assert first.exit_code == 2 and "required column is missing" in first.output   # the cover sheet
    ok = CliRunner().invoke(cli, ["sites", "validate", str(path), "--sheet", "Trạm"])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(cli, ["sites", "validate", str(path), "--sheet", "Sites"])
    assert missing.exit_code == 2 and "no sheet 'Sites' (sheets: Bìa, Trạm)" in missing.output
    # a refusal of a named sheet's rows points validate at that sheet
    bad = _expected().astype(object)
    bad.loc[0, "technology"] = "6G"
    bad.loc[1, "lat"] = "abc"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        bad.to_excel(xl, sheet_name="Trạm muốn", index=False)
    with pytest.raises(InputError, match=re.escape(f"`phusong sites validate {path} --sheet 'Trạm muốn'` lists")):
        read_sites(path, sheet="Trạm muốn")


@pytest.mark.parametrize("encoding, name", [("cp1258", "Windows-1258"), ("latin-1", "TCVN3 (ABC)")])
def test_legacy_vietnamese_encodings_are_named(tmp_path, encoding, name):
    path = tmp_path / "sites.csv"
    if encoding == "cp1258":
        # "Lạng Sơn" as Windows-1258 writes it: "a" then the combining dot below (F2); "ơ" is one byte (F5)
        raw = (",".join(HEADER) + "\nS1,S1-1,106.76,21.85,4G,1800,30,46,Viettel L").encode() + \
            b"a\xf2ng S\xf5n\n"
    else:
        # TCVN3 puts precomposed Vietnamese letters on single high bytes ("L¹ng S¬n" for "Lạng Sơn")
        raw = (",".join(HEADER) + "\nS1,S1-1,106.76,21.85,4G,1800,30,46,Viettel L\xb9ng S\xacn\n").encode("latin-1")
    path.write_bytes(raw)
    result = CliRunner().invoke(cli, ["sites", "validate", str(path)])
    assert result.exit_code == 2
    assert f"it looks like {name}, a legacy Vietnamese encoding; save it as UTF-8" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_the_three_crashes_a_new_user_met(demo_inputs, tmp_path):
    """A truncated GeoTIFF DEM, an empty site CSV and a header-only one: one line and exit 2 each."""
    dem_bytes = demo_inputs.dem.read_bytes()
    truncated = tmp_path / "dem.tif"
    truncated.write_bytes(dem_bytes[:len(dem_bytes) // 2])
    empty, header_only = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header_only.write_text(",".join(HEADER) + "\n")
    cases = [([str(truncated)], str(demo_inputs.sites), "dem.tif: cannot read the heights: the file is truncated"),
             ([str(demo_inputs.dem)], str(empty), "empty.csv: empty file"),
             ([str(demo_inputs.dem)], str(header_only), "header.csv: header only: the site list has no rows")]
    for dems, sites, message in cases:
        out = tmp_path / "run"
        args = ["simulate", "--sites", sites, "--out", str(out), "--resolution-m", "200", "--radius-km", "2"]
        for d in dems:
            args += ["--dem", d]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
        assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_a_site_list_with_problems_is_one_line_pointing_to_validate(demo_inputs, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(",".join(HEADER) + "\nS1,S1-1,106.76,21.85,6G,1800,30,46,X\nS2,S2-1,106.76,abc,4G,1800,30,46,X\n")
    result = CliRunner().invoke(cli, ["simulate", "--dem", str(demo_inputs.dem), "--sites", str(path),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: {path}: 2 problem(s) in the site list: row 1, column technology: "
                                     f"unknown technology (4G, 5G or NB-IoT) (value '6G') and 1 more; "
                                     f"`phusong sites validate {path} --dem DEM` lists them all")
    # (with --dem: the outside-the-terrain check of simulate's list is validate's only with it)
    with pytest.raises(InputError, match=f"`phusong sites validate {re.escape(str(path))}` lists them all$"):
        read_sites(path)   # no terrain given: no --dem to repeat


def test_common_header_spellings_and_site_names(tmp_path):
    spelled = ["Site", "Cell", "Longitude", "Latitude", "Tech", "Freq", "Height", "Power", "nhà mạng"]
    path = tmp_path / "sites.csv"
    pd.DataFrame(ROWS, columns=spelled).assign(**{"Tên trạm": ["Trạm Đồng Đăng", "Trạm Đồng Đăng"]}).to_csv(
        path, index=False)
    sites = read_sites(path)
    _same(sites)
    assert list(sites["site_name"]) == ["Trạm Đồng Đăng"] * 2


def test_a_misspelled_header_gets_a_suggestion(tmp_path):
    path = tmp_path / "sites.csv"
    pd.DataFrame(ROWS, columns=[*HEADER[:6], "antena_height_m", *HEADER[7:]]).to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["sites", "validate", str(path)])
    assert result.exit_code == 2
    assert "header, column antenna_height_m: required column is missing from the header (did you mean " \
        "'antena_height_m'?)" in result.output


def test_excel_unicode_text_utf16_with_tabs_reads_as_utf8_does(tmp_path):
    """Excel's "Unicode Text" is UTF-16 (with a byte-order mark) and tab-separated: read, not taken for a legacy
    Vietnamese encoding."""
    path = tmp_path / "sites.txt"
    _expected().assign(operator="Viettel – Lạng Sơn").to_csv(path, sep="\t", index=False, encoding="utf-16")
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    utf8 = tmp_path / "sites.csv"
    _expected().assign(operator="Viettel – Lạng Sơn").to_csv(utf8, index=False)
    a, b = read_sites(path), read_sites(utf8)
    assert list(a["operator"]) == ["Viettel – Lạng Sơn"] * len(a)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
