//! The aws CLI's names for the model's: `HealthCheckIntervalSeconds` is `--health-check-interval-seconds`,
//! `desiredCount` is `--desired-count`, `ResourceARNs` is `--resource-arns`, the operation
//! `CreateTargetGroup` is `create-target-group` and the waiter `LoadBalancerAvailable` is
//! `load-balancer-available`.

/// A model name in the CLI's kebab case. A trailing plural acronym (`ARNs`, `ACLs`) is one word; a
/// word starts at an upper-case letter followed by lower case, and where a lower-case letter or
/// digit meets an upper-case one.
pub fn kebab(name: &str) -> String {
    if name.contains('-') {
        return name.to_string();
    }
    let chars: Vec<char> = name.chars().collect();
    // A trailing run of two or more capitals and an "s" stays one word: "ResourceARNs".
    let mut tail_start = chars.len();
    if chars.len() >= 3 && chars[chars.len() - 1] == 's' {
        let mut i = chars.len() - 1;
        while i > 0 && chars[i - 1].is_ascii_uppercase() {
            i -= 1;
        }
        if chars.len() - 1 - i >= 2 {
            tail_start = i;
        }
    }
    let head = &chars[..tail_start];
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in head.iter().enumerate() {
        let prev = (i > 0).then(|| head[i - 1]);
        let next = head.get(i + 1).copied();
        let starts_word = c.is_ascii_uppercase()
            && prev.is_some()
            && (prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || next.is_some_and(|n| n.is_ascii_lowercase()));
        if starts_word && !out.ends_with('-') {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    if tail_start < chars.len() {
        if !out.is_empty() {
            out.push('-');
        }
        out.extend(chars[tail_start..].iter().map(|c| c.to_ascii_lowercase()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::kebab;

    #[test]
    fn names_split_as_the_cli_splits_them() {
        for (model, cli) in [
            ("VpcId", "vpc-id"),
            ("HealthCheckIntervalSeconds", "health-check-interval-seconds"),
            ("desiredCount", "desired-count"),
            ("ResourceARNs", "resource-arns"),
            ("DBInstanceIdentifier", "db-instance-identifier"),
            ("CreateTargetGroup", "create-target-group"),
            ("IpPermissions", "ip-permissions"),
            ("SSLPolicy", "ssl-policy"),
            ("Ipv6CidrBlock", "ipv6-cidr-block"),
            ("TTL", "ttl"),
            ("DNSName", "dns-name"),
            ("LoadBalancerArns", "load-balancer-arns"),
            ("awsvpcConfiguration", "awsvpc-configuration"),
        ] {
            assert_eq!(kebab(model), cli, "{model}");
        }
    }
}
