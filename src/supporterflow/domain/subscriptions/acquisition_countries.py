"""The country tables of the Feast acquisition events (spec §10.3), as plain data.

Generated once, on 2026-11-23, by a throw-away script outside the project (neither library is a
dependency); not regenerated since. A country or currency that changes is edited here by hand, and the
dead letters it held up are replayed.

- ``STOREFRONT_COUNTRIES``: ISO 3166-1 alpha-3 -> alpha-2, every country of pycountry
  26.2.16 (ISO 3166-1, 249 countries), plus ``XKX`` -> ``XK`` for Kosovo, which
  ISO 3166 leaves out (user-assigned codes; the original's table has them).
- ``COUNTRY_CURRENCIES``: alpha-2 -> ISO 4217, the single legal tender of each country of the table
  above on that day, from Babel 2.18.0 (Unicode CLDR 47,
  ``get_territory_currencies(tender=True)``), with two overrides: ``BG`` -> ``EUR`` (the euro since
  2026-01-01, after that CLDR release) and ``ZW`` -> ``ZWL`` (what the original sends, kept for the
  Acquisition API's schema). Countries with no single tender are left out, so that an acquisition
  from one waits in the dead-letter queue for a decision instead of a guess:
  AQ (none), BT (INR/BTN), HT (HTG/USD), LS (ZAR/LSL), NA (ZAR/NAD), PA (PAB/USD), PS (ILS/JOD).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["COUNTRY_CURRENCIES", "STOREFRONT_COUNTRIES"]

STOREFRONT_COUNTRIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ABW": "AW",  # Aruba
        "AFG": "AF",  # Afghanistan
        "AGO": "AO",  # Angola
        "AIA": "AI",  # Anguilla
        "ALA": "AX",  # Aland Islands
        "ALB": "AL",  # Albania
        "AND": "AD",  # Andorra
        "ARE": "AE",  # United Arab Emirates
        "ARG": "AR",  # Argentina
        "ARM": "AM",  # Armenia
        "ASM": "AS",  # American Samoa
        "ATA": "AQ",  # Antarctica
        "ATF": "TF",  # French Southern Territories
        "ATG": "AG",  # Antigua and Barbuda
        "AUS": "AU",  # Australia
        "AUT": "AT",  # Austria
        "AZE": "AZ",  # Azerbaijan
        "BDI": "BI",  # Burundi
        "BEL": "BE",  # Belgium
        "BEN": "BJ",  # Benin
        "BES": "BQ",  # Bonaire, Sint Eustatius and Saba
        "BFA": "BF",  # Burkina Faso
        "BGD": "BD",  # Bangladesh
        "BGR": "BG",  # Bulgaria
        "BHR": "BH",  # Bahrain
        "BHS": "BS",  # Bahamas
        "BIH": "BA",  # Bosnia and Herzegovina
        "BLM": "BL",  # Saint Barthelemy
        "BLR": "BY",  # Belarus
        "BLZ": "BZ",  # Belize
        "BMU": "BM",  # Bermuda
        "BOL": "BO",  # Bolivia, Plurinational State of
        "BRA": "BR",  # Brazil
        "BRB": "BB",  # Barbados
        "BRN": "BN",  # Brunei Darussalam
        "BTN": "BT",  # Bhutan
        "BVT": "BV",  # Bouvet Island
        "BWA": "BW",  # Botswana
        "CAF": "CF",  # Central African Republic
        "CAN": "CA",  # Canada
        "CCK": "CC",  # Cocos (Keeling) Islands
        "CHE": "CH",  # Switzerland
        "CHL": "CL",  # Chile
        "CHN": "CN",  # China
        "CIV": "CI",  # Cote d'Ivoire
        "CMR": "CM",  # Cameroon
        "COD": "CD",  # Congo, The Democratic Republic of the
        "COG": "CG",  # Congo
        "COK": "CK",  # Cook Islands
        "COL": "CO",  # Colombia
        "COM": "KM",  # Comoros
        "CPV": "CV",  # Cabo Verde
        "CRI": "CR",  # Costa Rica
        "CUB": "CU",  # Cuba
        "CUW": "CW",  # Curacao
        "CXR": "CX",  # Christmas Island
        "CYM": "KY",  # Cayman Islands
        "CYP": "CY",  # Cyprus
        "CZE": "CZ",  # Czechia
        "DEU": "DE",  # Germany
        "DJI": "DJ",  # Djibouti
        "DMA": "DM",  # Dominica
        "DNK": "DK",  # Denmark
        "DOM": "DO",  # Dominican Republic
        "DZA": "DZ",  # Algeria
        "ECU": "EC",  # Ecuador
        "EGY": "EG",  # Egypt
        "ERI": "ER",  # Eritrea
        "ESH": "EH",  # Western Sahara
        "ESP": "ES",  # Spain
        "EST": "EE",  # Estonia
        "ETH": "ET",  # Ethiopia
        "FIN": "FI",  # Finland
        "FJI": "FJ",  # Fiji
        "FLK": "FK",  # Falkland Islands (Malvinas)
        "FRA": "FR",  # France
        "FRO": "FO",  # Faroe Islands
        "FSM": "FM",  # Micronesia, Federated States of
        "GAB": "GA",  # Gabon
        "GBR": "GB",  # United Kingdom
        "GEO": "GE",  # Georgia
        "GGY": "GG",  # Guernsey
        "GHA": "GH",  # Ghana
        "GIB": "GI",  # Gibraltar
        "GIN": "GN",  # Guinea
        "GLP": "GP",  # Guadeloupe
        "GMB": "GM",  # Gambia
        "GNB": "GW",  # Guinea-Bissau
        "GNQ": "GQ",  # Equatorial Guinea
        "GRC": "GR",  # Greece
        "GRD": "GD",  # Grenada
        "GRL": "GL",  # Greenland
        "GTM": "GT",  # Guatemala
        "GUF": "GF",  # French Guiana
        "GUM": "GU",  # Guam
        "GUY": "GY",  # Guyana
        "HKG": "HK",  # Hong Kong
        "HMD": "HM",  # Heard Island and McDonald Islands
        "HND": "HN",  # Honduras
        "HRV": "HR",  # Croatia
        "HTI": "HT",  # Haiti
        "HUN": "HU",  # Hungary
        "IDN": "ID",  # Indonesia
        "IMN": "IM",  # Isle of Man
        "IND": "IN",  # India
        "IOT": "IO",  # British Indian Ocean Territory
        "IRL": "IE",  # Ireland
        "IRN": "IR",  # Iran, Islamic Republic of
        "IRQ": "IQ",  # Iraq
        "ISL": "IS",  # Iceland
        "ISR": "IL",  # Israel
        "ITA": "IT",  # Italy
        "JAM": "JM",  # Jamaica
        "JEY": "JE",  # Jersey
        "JOR": "JO",  # Jordan
        "JPN": "JP",  # Japan
        "KAZ": "KZ",  # Kazakhstan
        "KEN": "KE",  # Kenya
        "KGZ": "KG",  # Kyrgyzstan
        "KHM": "KH",  # Cambodia
        "KIR": "KI",  # Kiribati
        "KNA": "KN",  # Saint Kitts and Nevis
        "KOR": "KR",  # Korea, Republic of
        "KWT": "KW",  # Kuwait
        "LAO": "LA",  # Lao People's Democratic Republic
        "LBN": "LB",  # Lebanon
        "LBR": "LR",  # Liberia
        "LBY": "LY",  # Libya
        "LCA": "LC",  # Saint Lucia
        "LIE": "LI",  # Liechtenstein
        "LKA": "LK",  # Sri Lanka
        "LSO": "LS",  # Lesotho
        "LTU": "LT",  # Lithuania
        "LUX": "LU",  # Luxembourg
        "LVA": "LV",  # Latvia
        "MAC": "MO",  # Macao
        "MAF": "MF",  # Saint Martin (French part)
        "MAR": "MA",  # Morocco
        "MCO": "MC",  # Monaco
        "MDA": "MD",  # Moldova, Republic of
        "MDG": "MG",  # Madagascar
        "MDV": "MV",  # Maldives
        "MEX": "MX",  # Mexico
        "MHL": "MH",  # Marshall Islands
        "MKD": "MK",  # North Macedonia
        "MLI": "ML",  # Mali
        "MLT": "MT",  # Malta
        "MMR": "MM",  # Myanmar
        "MNE": "ME",  # Montenegro
        "MNG": "MN",  # Mongolia
        "MNP": "MP",  # Northern Mariana Islands
        "MOZ": "MZ",  # Mozambique
        "MRT": "MR",  # Mauritania
        "MSR": "MS",  # Montserrat
        "MTQ": "MQ",  # Martinique
        "MUS": "MU",  # Mauritius
        "MWI": "MW",  # Malawi
        "MYS": "MY",  # Malaysia
        "MYT": "YT",  # Mayotte
        "NAM": "NA",  # Namibia
        "NCL": "NC",  # New Caledonia
        "NER": "NE",  # Niger
        "NFK": "NF",  # Norfolk Island
        "NGA": "NG",  # Nigeria
        "NIC": "NI",  # Nicaragua
        "NIU": "NU",  # Niue
        "NLD": "NL",  # Netherlands
        "NOR": "NO",  # Norway
        "NPL": "NP",  # Nepal
        "NRU": "NR",  # Nauru
        "NZL": "NZ",  # New Zealand
        "OMN": "OM",  # Oman
        "PAK": "PK",  # Pakistan
        "PAN": "PA",  # Panama
        "PCN": "PN",  # Pitcairn
        "PER": "PE",  # Peru
        "PHL": "PH",  # Philippines
        "PLW": "PW",  # Palau
        "PNG": "PG",  # Papua New Guinea
        "POL": "PL",  # Poland
        "PRI": "PR",  # Puerto Rico
        "PRK": "KP",  # Korea, Democratic People's Republic of
        "PRT": "PT",  # Portugal
        "PRY": "PY",  # Paraguay
        "PSE": "PS",  # Palestine, State of
        "PYF": "PF",  # French Polynesia
        "QAT": "QA",  # Qatar
        "REU": "RE",  # Reunion
        "ROU": "RO",  # Romania
        "RUS": "RU",  # Russian Federation
        "RWA": "RW",  # Rwanda
        "SAU": "SA",  # Saudi Arabia
        "SDN": "SD",  # Sudan
        "SEN": "SN",  # Senegal
        "SGP": "SG",  # Singapore
        "SGS": "GS",  # South Georgia and the South Sandwich Islands
        "SHN": "SH",  # Saint Helena, Ascension and Tristan da Cunha
        "SJM": "SJ",  # Svalbard and Jan Mayen
        "SLB": "SB",  # Solomon Islands
        "SLE": "SL",  # Sierra Leone
        "SLV": "SV",  # El Salvador
        "SMR": "SM",  # San Marino
        "SOM": "SO",  # Somalia
        "SPM": "PM",  # Saint Pierre and Miquelon
        "SRB": "RS",  # Serbia
        "SSD": "SS",  # South Sudan
        "STP": "ST",  # Sao Tome and Principe
        "SUR": "SR",  # Suriname
        "SVK": "SK",  # Slovakia
        "SVN": "SI",  # Slovenia
        "SWE": "SE",  # Sweden
        "SWZ": "SZ",  # Eswatini
        "SXM": "SX",  # Sint Maarten (Dutch part)
        "SYC": "SC",  # Seychelles
        "SYR": "SY",  # Syrian Arab Republic
        "TCA": "TC",  # Turks and Caicos Islands
        "TCD": "TD",  # Chad
        "TGO": "TG",  # Togo
        "THA": "TH",  # Thailand
        "TJK": "TJ",  # Tajikistan
        "TKL": "TK",  # Tokelau
        "TKM": "TM",  # Turkmenistan
        "TLS": "TL",  # Timor-Leste
        "TON": "TO",  # Tonga
        "TTO": "TT",  # Trinidad and Tobago
        "TUN": "TN",  # Tunisia
        "TUR": "TR",  # Turkiye
        "TUV": "TV",  # Tuvalu
        "TWN": "TW",  # Taiwan, Province of China
        "TZA": "TZ",  # Tanzania, United Republic of
        "UGA": "UG",  # Uganda
        "UKR": "UA",  # Ukraine
        "UMI": "UM",  # United States Minor Outlying Islands
        "URY": "UY",  # Uruguay
        "USA": "US",  # United States
        "UZB": "UZ",  # Uzbekistan
        "VAT": "VA",  # Holy See (Vatican City State)
        "VCT": "VC",  # Saint Vincent and the Grenadines
        "VEN": "VE",  # Venezuela, Bolivarian Republic of
        "VGB": "VG",  # Virgin Islands, British
        "VIR": "VI",  # Virgin Islands, U.S.
        "VNM": "VN",  # Viet Nam
        "VUT": "VU",  # Vanuatu
        "WLF": "WF",  # Wallis and Futuna
        "WSM": "WS",  # Samoa
        "XKX": "XK",  # Kosovo
        "YEM": "YE",  # Yemen
        "ZAF": "ZA",  # South Africa
        "ZMB": "ZM",  # Zambia
        "ZWE": "ZW",  # Zimbabwe
    }
)

COUNTRY_CURRENCIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "AD": "EUR",  # Andorra
        "AE": "AED",  # United Arab Emirates
        "AF": "AFN",  # Afghanistan
        "AG": "XCD",  # Antigua and Barbuda
        "AI": "XCD",  # Anguilla
        "AL": "ALL",  # Albania
        "AM": "AMD",  # Armenia
        "AO": "AOA",  # Angola
        "AR": "ARS",  # Argentina
        "AS": "USD",  # American Samoa
        "AT": "EUR",  # Austria
        "AU": "AUD",  # Australia
        "AW": "AWG",  # Aruba
        "AX": "EUR",  # Aland Islands
        "AZ": "AZN",  # Azerbaijan
        "BA": "BAM",  # Bosnia and Herzegovina
        "BB": "BBD",  # Barbados
        "BD": "BDT",  # Bangladesh
        "BE": "EUR",  # Belgium
        "BF": "XOF",  # Burkina Faso
        "BG": "EUR",  # Bulgaria (euro since 2026-01-01; CLDR 47 still says BGN)
        "BH": "BHD",  # Bahrain
        "BI": "BIF",  # Burundi
        "BJ": "XOF",  # Benin
        "BL": "EUR",  # Saint Barthelemy
        "BM": "BMD",  # Bermuda
        "BN": "BND",  # Brunei Darussalam
        "BO": "BOB",  # Bolivia, Plurinational State of
        "BQ": "USD",  # Bonaire, Sint Eustatius and Saba
        "BR": "BRL",  # Brazil
        "BS": "BSD",  # Bahamas
        "BV": "NOK",  # Bouvet Island
        "BW": "BWP",  # Botswana
        "BY": "BYN",  # Belarus
        "BZ": "BZD",  # Belize
        "CA": "CAD",  # Canada
        "CC": "AUD",  # Cocos (Keeling) Islands
        "CD": "CDF",  # Congo, The Democratic Republic of the
        "CF": "XAF",  # Central African Republic
        "CG": "XAF",  # Congo
        "CH": "CHF",  # Switzerland
        "CI": "XOF",  # Cote d'Ivoire
        "CK": "NZD",  # Cook Islands
        "CL": "CLP",  # Chile
        "CM": "XAF",  # Cameroon
        "CN": "CNY",  # China
        "CO": "COP",  # Colombia
        "CR": "CRC",  # Costa Rica
        "CU": "CUP",  # Cuba
        "CV": "CVE",  # Cabo Verde
        "CW": "XCG",  # Curacao
        "CX": "AUD",  # Christmas Island
        "CY": "EUR",  # Cyprus
        "CZ": "CZK",  # Czechia
        "DE": "EUR",  # Germany
        "DJ": "DJF",  # Djibouti
        "DK": "DKK",  # Denmark
        "DM": "XCD",  # Dominica
        "DO": "DOP",  # Dominican Republic
        "DZ": "DZD",  # Algeria
        "EC": "USD",  # Ecuador
        "EE": "EUR",  # Estonia
        "EG": "EGP",  # Egypt
        "EH": "MAD",  # Western Sahara
        "ER": "ERN",  # Eritrea
        "ES": "EUR",  # Spain
        "ET": "ETB",  # Ethiopia
        "FI": "EUR",  # Finland
        "FJ": "FJD",  # Fiji
        "FK": "FKP",  # Falkland Islands (Malvinas)
        "FM": "USD",  # Micronesia, Federated States of
        "FO": "DKK",  # Faroe Islands
        "FR": "EUR",  # France
        "GA": "XAF",  # Gabon
        "GB": "GBP",  # United Kingdom
        "GD": "XCD",  # Grenada
        "GE": "GEL",  # Georgia
        "GF": "EUR",  # French Guiana
        "GG": "GBP",  # Guernsey
        "GH": "GHS",  # Ghana
        "GI": "GIP",  # Gibraltar
        "GL": "DKK",  # Greenland
        "GM": "GMD",  # Gambia
        "GN": "GNF",  # Guinea
        "GP": "EUR",  # Guadeloupe
        "GQ": "XAF",  # Equatorial Guinea
        "GR": "EUR",  # Greece
        "GS": "GBP",  # South Georgia and the South Sandwich Islands
        "GT": "GTQ",  # Guatemala
        "GU": "USD",  # Guam
        "GW": "XOF",  # Guinea-Bissau
        "GY": "GYD",  # Guyana
        "HK": "HKD",  # Hong Kong
        "HM": "AUD",  # Heard Island and McDonald Islands
        "HN": "HNL",  # Honduras
        "HR": "EUR",  # Croatia
        "HU": "HUF",  # Hungary
        "ID": "IDR",  # Indonesia
        "IE": "EUR",  # Ireland
        "IL": "ILS",  # Israel
        "IM": "GBP",  # Isle of Man
        "IN": "INR",  # India
        "IO": "USD",  # British Indian Ocean Territory
        "IQ": "IQD",  # Iraq
        "IR": "IRR",  # Iran, Islamic Republic of
        "IS": "ISK",  # Iceland
        "IT": "EUR",  # Italy
        "JE": "GBP",  # Jersey
        "JM": "JMD",  # Jamaica
        "JO": "JOD",  # Jordan
        "JP": "JPY",  # Japan
        "KE": "KES",  # Kenya
        "KG": "KGS",  # Kyrgyzstan
        "KH": "KHR",  # Cambodia
        "KI": "AUD",  # Kiribati
        "KM": "KMF",  # Comoros
        "KN": "XCD",  # Saint Kitts and Nevis
        "KP": "KPW",  # Korea, Democratic People's Republic of
        "KR": "KRW",  # Korea, Republic of
        "KW": "KWD",  # Kuwait
        "KY": "KYD",  # Cayman Islands
        "KZ": "KZT",  # Kazakhstan
        "LA": "LAK",  # Lao People's Democratic Republic
        "LB": "LBP",  # Lebanon
        "LC": "XCD",  # Saint Lucia
        "LI": "CHF",  # Liechtenstein
        "LK": "LKR",  # Sri Lanka
        "LR": "LRD",  # Liberia
        "LT": "EUR",  # Lithuania
        "LU": "EUR",  # Luxembourg
        "LV": "EUR",  # Latvia
        "LY": "LYD",  # Libya
        "MA": "MAD",  # Morocco
        "MC": "EUR",  # Monaco
        "MD": "MDL",  # Moldova, Republic of
        "ME": "EUR",  # Montenegro
        "MF": "EUR",  # Saint Martin (French part)
        "MG": "MGA",  # Madagascar
        "MH": "USD",  # Marshall Islands
        "MK": "MKD",  # North Macedonia
        "ML": "XOF",  # Mali
        "MM": "MMK",  # Myanmar
        "MN": "MNT",  # Mongolia
        "MO": "MOP",  # Macao
        "MP": "USD",  # Northern Mariana Islands
        "MQ": "EUR",  # Martinique
        "MR": "MRU",  # Mauritania
        "MS": "XCD",  # Montserrat
        "MT": "EUR",  # Malta
        "MU": "MUR",  # Mauritius
        "MV": "MVR",  # Maldives
        "MW": "MWK",  # Malawi
        "MX": "MXN",  # Mexico
        "MY": "MYR",  # Malaysia
        "MZ": "MZN",  # Mozambique
        "NC": "XPF",  # New Caledonia
        "NE": "XOF",  # Niger
        "NF": "AUD",  # Norfolk Island
        "NG": "NGN",  # Nigeria
        "NI": "NIO",  # Nicaragua
        "NL": "EUR",  # Netherlands
        "NO": "NOK",  # Norway
        "NP": "NPR",  # Nepal
        "NR": "AUD",  # Nauru
        "NU": "NZD",  # Niue
        "NZ": "NZD",  # New Zealand
        "OM": "OMR",  # Oman
        "PE": "PEN",  # Peru
        "PF": "XPF",  # French Polynesia
        "PG": "PGK",  # Papua New Guinea
        "PH": "PHP",  # Philippines
        "PK": "PKR",  # Pakistan
        "PL": "PLN",  # Poland
        "PM": "EUR",  # Saint Pierre and Miquelon
        "PN": "NZD",  # Pitcairn
        "PR": "USD",  # Puerto Rico
        "PT": "EUR",  # Portugal
        "PW": "USD",  # Palau
        "PY": "PYG",  # Paraguay
        "QA": "QAR",  # Qatar
        "RE": "EUR",  # Reunion
        "RO": "RON",  # Romania
        "RS": "RSD",  # Serbia
        "RU": "RUB",  # Russian Federation
        "RW": "RWF",  # Rwanda
        "SA": "SAR",  # Saudi Arabia
        "SB": "SBD",  # Solomon Islands
        "SC": "SCR",  # Seychelles
        "SD": "SDG",  # Sudan
        "SE": "SEK",  # Sweden
        "SG": "SGD",  # Singapore
        "SH": "SHP",  # Saint Helena, Ascension and Tristan da Cunha
        "SI": "EUR",  # Slovenia
        "SJ": "NOK",  # Svalbard and Jan Mayen
        "SK": "EUR",  # Slovakia
        "SL": "SLE",  # Sierra Leone
        "SM": "EUR",  # San Marino
        "SN": "XOF",  # Senegal
        "SO": "SOS",  # Somalia
        "SR": "SRD",  # Suriname
        "SS": "SSP",  # South Sudan
        "ST": "STN",  # Sao Tome and Principe
        "SV": "USD",  # El Salvador
        "SX": "XCG",  # Sint Maarten (Dutch part)
        "SY": "SYP",  # Syrian Arab Republic
        "SZ": "SZL",  # Eswatini
        "TC": "USD",  # Turks and Caicos Islands
        "TD": "XAF",  # Chad
        "TF": "EUR",  # French Southern Territories
        "TG": "XOF",  # Togo
        "TH": "THB",  # Thailand
        "TJ": "TJS",  # Tajikistan
        "TK": "NZD",  # Tokelau
        "TL": "USD",  # Timor-Leste
        "TM": "TMT",  # Turkmenistan
        "TN": "TND",  # Tunisia
        "TO": "TOP",  # Tonga
        "TR": "TRY",  # Turkiye
        "TT": "TTD",  # Trinidad and Tobago
        "TV": "AUD",  # Tuvalu
        "TW": "TWD",  # Taiwan, Province of China
        "TZ": "TZS",  # Tanzania, United Republic of
        "UA": "UAH",  # Ukraine
        "UG": "UGX",  # Uganda
        "UM": "USD",  # United States Minor Outlying Islands
        "US": "USD",  # United States
        "UY": "UYU",  # Uruguay
        "UZ": "UZS",  # Uzbekistan
        "VA": "EUR",  # Holy See (Vatican City State)
        "VC": "XCD",  # Saint Vincent and the Grenadines
        "VE": "VES",  # Venezuela, Bolivarian Republic of
        "VG": "USD",  # Virgin Islands, British
        "VI": "USD",  # Virgin Islands, U.S.
        "VN": "VND",  # Viet Nam
        "VU": "VUV",  # Vanuatu
        "WF": "XPF",  # Wallis and Futuna
        "WS": "WST",  # Samoa
        "XK": "EUR",  # Kosovo
        "YE": "YER",  # Yemen
        "YT": "EUR",  # Mayotte
        "ZA": "ZAR",  # South Africa
        "ZM": "ZMW",  # Zambia
        "ZW": "ZWL",  # Zimbabwe (kept for the Acquisition API's schema, spec §10.3; CLDR: USD and ZWG)
    }
)
