//! The benchmark's floor: the tutorial's SDK calls made directly from Rust, in the order
//! runbooks/tutorial.rhai makes them (look-ups before creates), with no script engine in between.
//! Prints the number of calls to stderr so the benchmark can show both programs made the same.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, LoadBalancer,
    NetworkConfiguration, NetworkMode, PortMapping, TransportProtocol,
};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum, TargetTypeEnum};
use std::error::Error;

type R<T> = Result<T, Box<dyn Error>>;

const CLUSTER: &str = "rent-a-room-cluster";
const SERVICE: &str = "rent-a-room-service";

#[tokio::main(flavor = "current_thread")]
async fn main() -> R<()> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let aas = aws_sdk_applicationautoscaling::Client::new(&config);
    let mut calls = 0u32;
    macro_rules! call {
        ($e:expr) => {{
            calls += 1;
            $e.send().await
        }};
    }
    let default_vpc = || Filter::builder().name("isDefault").values("true").build();
    let in_vpc = |vpc: &str| Filter::builder().name("vpc-id").values(vpc).build();

    // prereqs
    let vpc = call!(ec2.describe_vpcs().filters(default_vpc()))?.vpcs()[0].vpc_id().unwrap_or_default().to_string();
    let subnets: Vec<String> = call!(ec2.describe_subnets().filters(in_vpc(&vpc)))?
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    let active =
        call!(ecs.describe_clusters().clusters(CLUSTER))?.clusters().iter().any(|c| c.status() == Some("ACTIVE"));
    if !active {
        call!(ecs.create_cluster().cluster_name(CLUSTER))?;
    }
    let tds = call!(ecs.list_task_definitions().family_prefix("rent-a-room").status("ACTIVE".into()))?;
    if tds.task_definition_arns().is_empty() {
        let container = ContainerDefinition::builder()
            .name("rent-a-room")
            .image("nginx:latest")
            .essential(true)
            .memory(512)
            .port_mappings(PortMapping::builder().container_port(80).protocol(TransportProtocol::Tcp).build())
            .build();
        call!(ecs
            .register_task_definition()
            .family("rent-a-room")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(container))?;
    }
    call!(ecs.describe_clusters().clusters(CLUSTER))?;
    let existing = call!(ecs.describe_services().cluster(CLUSTER).services(SERVICE))?;
    if !existing.services().iter().any(|s| s.status() == Some("ACTIVE")) {
        let sg = call!(ec2
            .describe_security_groups()
            .filters(Filter::builder().name("group-name").values("default").build())
            .filters(in_vpc(&vpc)))?;
        let default_sg = sg.security_groups()[0].group_id().unwrap_or_default().to_string();
        let net = AwsVpcConfiguration::builder()
            .set_subnets(Some(subnets.clone()))
            .security_groups(default_sg)
            .assign_public_ip(AssignPublicIp::Enabled)
            .build()?;
        call!(ecs
            .create_service()
            .cluster(CLUSTER)
            .service_name(SERVICE)
            .task_definition("rent-a-room")
            .desired_count(1)
            .launch_type(LaunchType::Fargate)
            .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(net).build()))?;
    }

    // create_tg
    call!(ec2.describe_vpcs().filters(default_vpc()))?;
    let tg = match call!(elb.describe_target_groups().names("rent-a-room-tg")) {
        Ok(out) => out.target_groups()[0].clone(),
        Err(_) => call!(elb
            .create_target_group()
            .name("rent-a-room-tg")
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path("/")
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(2)
            .unhealthy_threshold_count(2))?
        .target_groups()[0]
            .clone(),
    };
    let tg_arn = tg.target_group_arn().unwrap_or_default().to_string();

    // attach_alb
    call!(ec2.describe_vpcs().filters(default_vpc()))?;
    call!(ec2.describe_subnets().filters(in_vpc(&vpc)))?;
    call!(elb.describe_target_groups().names("rent-a-room-tg"))?;
    let by_name = Filter::builder().name("group-name").values("rent-a-room-alb-sg").build();
    let sgs = call!(ec2.describe_security_groups().filters(by_name.clone()).filters(in_vpc(&vpc)))?;
    let sg_id = match sgs.security_groups().first() {
        Some(g) => g.group_id().unwrap_or_default().to_string(),
        None => call!(ec2
            .create_security_group()
            .group_name("rent-a-room-alb-sg")
            .description("Security group for Rent-A-Room ALB")
            .vpc_id(&vpc))?
        .group_id()
        .unwrap_or_default()
        .to_string(),
    };
    let sgs = call!(ec2.describe_security_groups().filters(by_name).filters(in_vpc(&vpc)))?;
    let allowed = sgs.security_groups()[0]
        .ip_permissions()
        .iter()
        .any(|p| p.from_port() == Some(80) && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0")));
    if !allowed {
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        call!(ec2.authorize_security_group_ingress().group_id(&sg_id).ip_permissions(rule))?;
    }
    let lb = match call!(elb.describe_load_balancers().names("rent-a-room-alb")) {
        Ok(out) => out.load_balancers()[0].clone(),
        Err(_) => call!(elb
            .create_load_balancer()
            .name("rent-a-room-alb")
            .set_subnets(Some(subnets.clone()))
            .security_groups(&sg_id)
            .scheme("internet-facing".into())
            .r#type("application".into()))?
        .load_balancers()[0]
            .clone(),
    };
    let lb_arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    // The waiter's one poll.
    call!(elb.describe_load_balancers().load_balancer_arns(&lb_arn))?;
    let listeners = call!(elb.describe_listeners().load_balancer_arn(&lb_arn))?;
    if !listeners.listeners().iter().any(|l| l.port() == Some(80)) {
        let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg_arn).build();
        call!(elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(forward))?;
    }
    call!(ecs.describe_clusters().clusters(CLUSTER))?;
    let svc = call!(ecs.describe_services().cluster(CLUSTER).services(SERVICE))?;
    if !svc.services()[0].load_balancers().iter().any(|l| l.target_group_arn() == Some(tg_arn.as_str())) {
        let attach =
            LoadBalancer::builder().target_group_arn(&tg_arn).container_name("rent-a-room").container_port(80).build();
        call!(ecs
            .update_service()
            .cluster(CLUSTER)
            .service(SERVICE)
            .load_balancers(attach)
            .force_new_deployment(true))?;
    }
    let dns = call!(elb.describe_load_balancers().names("rent-a-room-alb"))?.load_balancers()[0]
        .dns_name()
        .unwrap_or_default()
        .to_string();
    println!("Your application is available at: http://{dns}");

    // scale
    call!(ecs.update_service().cluster(CLUSTER).service(SERVICE).desired_count(3))?;

    // autoscale
    if call!(iam.get_role().role_name("AWSServiceRoleForECS")).is_err() {
        let roles = call!(iam.list_roles().path_prefix("/aws-service-role/ecs.amazonaws.com/"))?;
        if roles.roles().is_empty() {
            call!(iam.create_service_linked_role().aws_service_name("ecs.amazonaws.com"))?;
        }
    }
    let resource = format!("service/{CLUSTER}/{SERVICE}");
    call!(aas
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(1)
        .max_capacity(5))?;
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
        .build()?;
    let tracking = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(70.0)
        .predefined_metric_specification(metric)
        .build()?;
    call!(aas
        .put_scaling_policy()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_name("cpu-scaling-policy")
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(tracking))?;

    // verify
    let s = call!(ecs.describe_services().cluster(CLUSTER).services(SERVICE))?;
    println!("desired {} running {}", s.services()[0].desired_count(), s.services()[0].running_count());
    let tasks = call!(ecs.list_tasks().cluster(CLUSTER).service_name(SERVICE))?;
    if !tasks.task_arns().is_empty() {
        call!(ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(tasks.task_arns().to_vec())))?;
    }
    call!(elb.describe_target_groups().names("rent-a-room-tg"))?;
    call!(elb.describe_target_health().target_group_arn(&tg_arn))?;
    call!(elb.describe_load_balancers().names("rent-a-room-alb"))?;
    call!(elb.describe_listeners().load_balancer_arn(&lb_arn))?;
    eprintln!("floor: {calls} AWS calls");
    Ok(())
}
