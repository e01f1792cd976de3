"""Meta features beside the signal or image (age and sex of the ECG datasets that list them):
their sizes and their encoding as a fixed-length vector."""
from __future__ import annotations

#: Entries per feature: age (value/100, missing); sex (male, female, missing).
META_SIZES = {"age": 2, "sex": 3}


def meta_vector(features: tuple[str, ...], age, sex) -> list[float]:
    """Encode meta features; missing values get an explicit indicator (never a guess).

    age -> [age_years / 100 (0 if missing), missing]; sex -> [male, female, missing].
    """
    out: list[float] = []
    for f in features:
        if f == "age":
            try:
                a = float(age)
                ok = a == a and a >= 0  # not NaN
            except (TypeError, ValueError):
                ok = False
            out += [a / 100.0, 0.0] if ok else [0.0, 1.0]
        elif f == "sex":
            s = str(sex).strip().upper()[:1] if sex is not None else ""
            out += [1.0, 0.0, 0.0] if s == "M" else [0.0, 1.0, 0.0] if s == "F" else [0.0, 0.0, 1.0]
        else:
            raise ValueError(f"unknown meta feature {f!r}; accepted: age, sex")
    return out
