//! The aws CLI's command names: botocore's `xform_name`, which runbook's function names follow
//! (`CreateTargetGroup` → `create_target_group`, `DescribeDBInstances` → `describe_db_instances`).

use regex::Regex;
use std::sync::OnceLock;

struct Rules {
    special: Regex,
    first_cap: Regex,
    end_cap: Regex,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        // These three patterns are constant and valid; a failure would be a bug in this file.
        special: Regex::new("[A-Z]{2,}s$").unwrap_or_else(|e| panic!("{e}")),
        first_cap: Regex::new("(.)([A-Z][a-z]+)").unwrap_or_else(|e| panic!("{e}")),
        end_cap: Regex::new("([a-z0-9])([A-Z])").unwrap_or_else(|e| panic!("{e}")),
    })
}

pub fn cli_name(name: &str) -> String {
    let r = rules();
    let mut name = name.to_string();
    if let Some(m) = r.special.find(&name) {
        let matched = m.as_str().to_lowercase();
        name = format!("{}_{}", &name[..m.start()], matched);
    }
    let s1 = r.first_cap.replace_all(&name, "${1}_${2}");
    r.end_cap.replace_all(&s1, "${1}_${2}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::cli_name;

    #[test]
    fn matches_the_aws_cli() {
        assert_eq!(cli_name("CreateTargetGroup"), "create_target_group");
        assert_eq!(cli_name("DescribeVpcs"), "describe_vpcs");
        assert_eq!(cli_name("AuthorizeSecurityGroupIngress"), "authorize_security_group_ingress");
        assert_eq!(cli_name("DescribeImages"), "describe_images");
        assert_eq!(cli_name("AssignIpv6Addresses"), "assign_ipv6_addresses");
        assert_eq!(cli_name("DescribeDBInstances"), "describe_db_instances");
        assert_eq!(cli_name("ListAMIs"), "list_amis");
        assert_eq!(cli_name("CreateServiceLinkedRole"), "create_service_linked_role");
    }
}
