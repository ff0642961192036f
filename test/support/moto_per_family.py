"""Starts moto_server with the security-group rules quota counted per family, as AWS counts it.

moto 5.2 counts IPv4 and IPv6 ingress rules together against one fixed 60 (see docs TOOLCHAIN.md). AWS counts
each family against its own quota (60 IPv4 + 60 IPv6 inbound by default), and a rule that references a security
group or a prefix list once in each family, a prefix list by its MaxEntries. This launcher replaces
SecurityGroupBackend._verify_group_will_respect_rule_count_limit with that count, then runs moto_server's own
main with the same arguments (`python3 moto_per_family.py -H 127.0.0.1 -p PORT`).

MOTO_RULES_PER_FAMILY sets the quota (default 60, as AWS's default for VPC groups).
"""
import os
import sys

from moto.ec2.exceptions import RulesPerSecurityGroupLimitExceededError
from moto.ec2.models import security_groups

QUOTA = int(os.environ.get("MOTO_RULES_PER_FAMILY", "60"))


def _prefix_list_size(backend, prefix_list_id):
    lists = getattr(backend, "managed_prefix_lists", {}) or {}
    found = lists.get(prefix_list_id)
    size = getattr(found, "max_entries", None) if found is not None else None
    try:
        return int(size) if size is not None else 1
    except (TypeError, ValueError):
        return 1


def _family_of_range(ip_range):
    if isinstance(ip_range, dict):
        if ip_range.get("CidrIpv6"):
            return "ipv6"
        return "ipv4"
    return "ipv6" if ":" in str(ip_range) else "ipv4"


def _verify_per_family(self, group, current_rule_nb, ip_ranges, source_groups=None, egress=False):
    use = {"ipv4": 0, "ipv6": 0}
    for rule in group.egress_rules if egress else group.ingress_rules:
        if rule.prefix_list_id:
            weight = _prefix_list_size(self, rule.prefix_list_id)
            use["ipv4"] += weight
            use["ipv6"] += weight
        elif rule.source_group:
            use["ipv4"] += 1
            use["ipv6"] += 1
        else:
            use[_family_of_range(rule.ip_range)] += 1
    for ip_range in ip_ranges or []:
        use[_family_of_range(ip_range)] += 1
    for _ in source_groups or []:
        use["ipv4"] += 1
        use["ipv6"] += 1
    quota = QUOTA if group.vpc_id else 100
    if use["ipv4"] > quota or use["ipv6"] > quota:
        raise RulesPerSecurityGroupLimitExceededError


security_groups.SecurityGroupBackend._verify_group_will_respect_rule_count_limit = _verify_per_family

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
