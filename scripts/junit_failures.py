#!/usr/bin/env python3
"""Prints, for each failed entry of ctest JUnit files, its name and the last
lines of its output, so that the tail of a long test log says why it failed.

usage: junit_failures.py LINES FILE...   (FILE: a ctest --output-junit file)
"""
import sys
import xml.etree.ElementTree as ET


def main(argv):
    if len(argv) < 3 or not argv[1].isdigit():
        print(__doc__.strip(), file=sys.stderr)
        return 2
    keep = int(argv[1])
    for path in argv[2:]:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as error:
            print(f"    (cannot read {path}: {error})")
            continue
        for case in root.iter("testcase"):
            if case.get("status") != "fail":
                continue
            out = (case.findtext("system-out") or "").rstrip("\n").splitlines()
            print(f"--- {path}: {case.get('name')} (last {min(keep, len(out))} of {len(out)} lines)")
            for line in out[-keep:]:
                print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
