"""The site-list schema: one row per cell (sector), with units and defaults.

The README's "Site list" table is generated from ``COLUMNS`` in spirit: keep both
in step when a column changes.
"""
from __future__ import annotations

from dataclasses import dataclass

TECHNOLOGIES = ("4G", "5G", "NB-IoT")
TECH_SLUG = {"4G": "4g", "5G": "5g", "NB-IoT": "nbiot"}   # in file and field names: rsrp_5g.tif, sites_nbiot
STATUSES = ("existing", "planned", "candidate")
ANY_OPERATOR = "*"   # the layer of the best cell of any operator (ITU's SDG 9.c.1 counts coverage so)


@dataclass(frozen=True)
class Column:
    """One column of the site-list schema: type, whether required, unit, range, default and meaning."""
    name: str
    kind: str                  # "str", "float", "choice"
    required: bool
    unit: str = ""
    low: float | None = None   # inclusive range for numbers
    high: float | None = None
    default: object = None     # None: no default (or "empty means omnidirectional")
    choices: tuple = ()
    doc: str = ""
    whole: bool = False        # a whole number


COLUMNS: tuple[Column, ...] = (
    Column("site_id", "str", True, doc="site (mast) identifier; cells of one site share it"),
    Column("cell_id", "str", True, doc="cell (sector) identifier, unique in the file"),
    Column("lon", "float", True, "degrees", -180, 180, doc="WGS 84 longitude (or a point geometry)"),
    Column("lat", "float", True, "degrees", -90, 90, doc="WGS 84 latitude (or a point geometry)"),
    Column("technology", "choice", True, choices=TECHNOLOGIES, doc="4G, 5G or NB-IoT"),
    Column("frequency_mhz", "float", True, "MHz", 100, 100_000, doc="carrier centre frequency"),
    Column("antenna_height_m", "float", True, "m", 1, 300, doc="antenna centre above ground"),
    Column("tx_power_dbm", "float", True, "dBm", 0, 70,
           doc="total cell power at the antenna port (46 dBm = 40 W)"),
    Column("operator", "str", False, default="unknown", doc="operator name"),
    Column("bandwidth_mhz", "float", False, "MHz", 0.18, 400,
           doc="channel bandwidth; default 20 (4G), 100 (5G), 0.18 (NB-IoT)"),
    Column("azimuth_deg", "float", False, "degrees from north, clockwise", 0, 360,
           doc="boresight azimuth; empty = omnidirectional"),
    Column("mechanical_tilt_deg", "float", False, "degrees, positive down", -30, 30, default=0.0,
           doc="mechanical downtilt"),
    Column("electrical_tilt_deg", "float", False, "degrees, positive down", -30, 30, default=0.0,
           doc="electrical downtilt"),
    Column("beamwidth_h_deg", "float", False, "degrees", 1, 360, default=65.0,
           doc="horizontal half-power beamwidth (sector antennas)"),
    Column("beamwidth_v_deg", "float", False, "degrees", 1, 180, default=10.0,
           doc="vertical half-power beamwidth (sector antennas)"),
    Column("antenna_gain_dbi", "float", False, "dBi", -10, 40,
           doc="boresight gain; default 17 dBi (sector) or 11 dBi (omnidirectional)"),
    Column("feeder_loss_db", "float", False, "dB", 0, 20, default=0.5,
           doc="feeder and jumper loss between port and antenna"),
    Column("status", "choice", False, default="existing", choices=STATUSES,
           doc="existing, planned or candidate"),
    Column("antenna_file", "str", False,
           doc="MSI/Planet pattern file (relative to the site list); replaces gain, beamwidths and electrical tilt"),
    Column("pci", "float", False, "", 0, 1007, whole=True,
           doc="physical cell identity (LTE 0-503, NR 0-1007): matches measurements keyed by PCI and channel"),
)

BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)

DEFAULT_BANDWIDTH_MHZ = {"4G": 20.0, "5G": 100.0, "NB-IoT": 0.18}
DEFAULT_GAIN_DBI = {"sector": 17.0, "omni": 11.0}


def normalise_technology(value: str) -> str | None:
    """'4G', '5G' or 'NB-IoT' from the usual spellings (LTE, NR, nbiot, ...), else None."""
    key = str(value).strip().upper().replace("_", "-").replace(" ", "")
    return {"4G": "4G", "LTE": "4G", "5G": "5G", "NR": "5G", "NB-IOT": "NB-IoT", "NBIOT": "NB-IoT"}.get(key)


# Header spellings seen in operators' and spreadsheet site lists (compared lower-case, spaces and dashes
# as underscores, Vietnamese diacritics kept), mapped to the schema's names.
HEADER_SYNONYMS = {
    "longitude": "lon", "lng": "lon", "long": "lon", "x": "lon", "kinh_do": "lon", "kinh_độ": "lon",
    "latitude": "lat", "y": "lat", "vi_do": "lat", "vĩ_độ": "lat",
    "site": "site_id", "siteid": "site_id", "site_code": "site_id", "ma_tram": "site_id", "mã_trạm": "site_id",
    "cell": "cell_id", "cellid": "cell_id", "cell_name": "cell_id", "sector": "cell_id", "ma_cell": "cell_id",
    "tech": "technology", "rat": "technology", "cong_nghe": "technology", "công_nghệ": "technology",
    "freq": "frequency_mhz", "frequency": "frequency_mhz", "freq_mhz": "frequency_mhz", "tan_so": "frequency_mhz",
    "tần_số": "frequency_mhz", "height": "antenna_height_m", "antenna_height": "antenna_height_m",
    "height_m": "antenna_height_m", "do_cao": "antenna_height_m", "độ_cao": "antenna_height_m",
    "power": "tx_power_dbm", "tx_power": "tx_power_dbm", "power_dbm": "tx_power_dbm", "cong_suat": "tx_power_dbm",
    "công_suất": "tx_power_dbm", "azimuth": "azimuth_deg", "az": "azimuth_deg", "huong": "azimuth_deg",
    "hướng": "azimuth_deg", "bandwidth": "bandwidth_mhz", "bw": "bandwidth_mhz", "tilt": "electrical_tilt_deg",
    "etilt": "electrical_tilt_deg", "mtilt": "mechanical_tilt_deg", "gain": "antenna_gain_dbi",
    "nha_mang": "operator", "nhà_mạng": "operator", "ten_tram": "site_name", "tên_trạm": "site_name",
}


def canonical_header(name: str) -> str:
    """The schema's name for a header spelling (``Longitude`` → ``lon``), else the name itself."""
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    if key in BY_NAME:
        return key
    return HEADER_SYNONYMS.get(key, str(name).strip())
