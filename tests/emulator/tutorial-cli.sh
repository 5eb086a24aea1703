#!/usr/bin/env bash
# The seed tutorial done its own way: the aws CLI commands of "Adding a Load Balancer to ECS", step
# by step, for comparing with runbooks/tutorial.rhai (tests/e2e/compare.rs) and for the benchmarks.
# Needs the cluster and service of runbooks/prereqs.rhai, or WITH_PREREQS=1 to create them the same
# way; WITH_VERIFY=1 adds the tutorial's verification commands. PROPAGATION_WAIT replaces the
# tutorial's `sleep 20` (default 20).
set -euo pipefail
wait_secs=${PROPAGATION_WAIT:-20}

VPC_ID=$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)

if [ "${WITH_PREREQS:-0}" = 1 ]; then
    subnets=$(aws ec2 describe-subnets --filters Name=vpc-id,Values="$VPC_ID" --query 'Subnets[*].SubnetId' --output text | tr '\t' ',')
    default_sg=$(aws ec2 describe-security-groups --filters Name=group-name,Values=default Name=vpc-id,Values="$VPC_ID" \
        --query 'SecurityGroups[0].GroupId' --output text)
    aws ecs create-cluster --cluster-name rent-a-room-cluster >/dev/null
    aws ecs register-task-definition --family rent-a-room --network-mode awsvpc --requires-compatibilities FARGATE \
        --cpu 256 --memory 512 --container-definitions \
        '[{"name":"rent-a-room","image":"nginx:latest","essential":true,"memory":512,"portMappings":[{"containerPort":80,"protocol":"tcp"}]}]' >/dev/null
    aws ecs create-service --cluster rent-a-room-cluster --service-name rent-a-room-service \
        --task-definition rent-a-room --desired-count 1 --launch-type FARGATE \
        --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$default_sg],assignPublicIp=ENABLED}" >/dev/null
fi

# 1. Target group
aws elbv2 create-target-group --name rent-a-room-tg --protocol HTTP --port 80 --vpc-id "$VPC_ID" \
    --target-type ip --health-check-path / --health-check-interval-seconds 30 \
    --health-check-timeout-seconds 5 --healthy-threshold-count 2 --unhealthy-threshold-count 2 >/dev/null

# 2. Security group, ingress, load balancer, listener
ALB_SG_ID=$(aws ec2 create-security-group --group-name rent-a-room-alb-sg \
    --description "Security group for Rent-A-Room ALB" --vpc-id "$VPC_ID" --query 'GroupId' --output text)
aws ec2 authorize-security-group-ingress --group-id "$ALB_SG_ID" --protocol tcp --port 80 --cidr 0.0.0.0/0 >/dev/null
SUBNET_IDS=$(aws ec2 describe-subnets --filters Name=vpc-id,Values="$VPC_ID" --query 'Subnets[*].SubnetId' \
    --output json | tr -d '[:space:]')
# shellcheck disable=SC2046 # the subnet list is split into words on purpose, as in the tutorial
aws elbv2 create-load-balancer --name rent-a-room-alb \
    --subnets $(echo "$SUBNET_IDS" | sed 's/\[//g' | sed 's/\]//g' | sed 's/,/ /g' | sed 's/"//g') \
    --security-groups "$ALB_SG_ID" >/dev/null
ALB_ARN=$(aws elbv2 describe-load-balancers --names rent-a-room-alb --query 'LoadBalancers[0].LoadBalancerArn' --output text)
TG_ARN=$(aws elbv2 describe-target-groups --names rent-a-room-tg --query 'TargetGroups[0].TargetGroupArn' --output text)
aws elbv2 create-listener --load-balancer-arn "$ALB_ARN" --protocol HTTP --port 80 \
    --default-actions Type=forward,TargetGroupArn="$TG_ARN" >/dev/null

# 3. The service behind the load balancer
aws ecs update-service --cluster rent-a-room-cluster --service rent-a-room-service \
    --load-balancers "targetGroupArn=$TG_ARN,containerName=rent-a-room,containerPort=80" \
    --force-new-deployment >/dev/null

# 4. The DNS name
ALB_DNS=$(aws elbv2 describe-load-balancers --names rent-a-room-alb --query 'LoadBalancers[0].DNSName' --output text)
echo "Your application is available at: http://$ALB_DNS"

# Scaling
aws ecs update-service --cluster rent-a-room-cluster --service rent-a-room-service --desired-count 3 >/dev/null

# Auto scaling
if ! aws iam get-role --role-name AWSServiceRoleForECS &> /dev/null; then
    aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com >/dev/null
    sleep "$wait_secs"
fi
aws application-autoscaling register-scalable-target --service-namespace ecs \
    --resource-id service/rent-a-room-cluster/rent-a-room-service \
    --scalable-dimension ecs:service:DesiredCount --min-capacity 1 --max-capacity 5
sleep "$wait_secs"
aws application-autoscaling put-scaling-policy --service-namespace ecs \
    --resource-id service/rent-a-room-cluster/rent-a-room-service \
    --scalable-dimension ecs:service:DesiredCount --policy-name cpu-scaling-policy \
    --policy-type TargetTrackingScaling \
    --target-tracking-scaling-policy-configuration \
    '{"TargetValue": 70.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}' >/dev/null

if [ "${WITH_VERIFY:-0}" = 1 ]; then
    echo "Checking running tasks..."
    aws ecs describe-services --cluster rent-a-room-cluster --services rent-a-room-service \
        --query 'services[0].{desiredCount:desiredCount,runningCount:runningCount,pendingCount:pendingCount}' --output table
    echo -e "\nListing all tasks:"
    aws ecs list-tasks --cluster rent-a-room-cluster --service-name rent-a-room-service --query 'taskArns[*]' --output table
    echo -e "\nDetailed task information:"
    TASK_ARNS=$(aws ecs list-tasks --cluster rent-a-room-cluster --service-name rent-a-room-service --query 'taskArns[*]' --output text)
    if [ -n "$TASK_ARNS" ]; then
        # shellcheck disable=SC2086 # one argument per task, as in the tutorial
        aws ecs describe-tasks --cluster rent-a-room-cluster --tasks $TASK_ARNS \
            --query 'tasks[*].{TaskId:taskArn,Status:lastStatus,IP:attachments[0].details[?name==`privateIPv4Address`].value[0]}' --output table
    fi
fi
