"""Where the Batch jobs run: the configured subnets and security groups, or a minimal VPC of the stack's own.

The VPC: two public subnets in two zones, an internet gateway, no NAT (tasks get a public IP to reach the AWS
APIs), and a security group with no ingress and only HTTPS out. S3 and DynamoDB gateway endpoints (free) keep the
jobs' bulk traffic inside the VPC. Its resources are children of the component that runs the jobs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

VPC_CIDR = "10.42.0.0/16"
SUBNET_CIDRS = ("10.42.0.0/20", "10.42.16.0/20")
HTTPS_PORT = 443
ANYWHERE = "0.0.0.0/0"
#: Gateway endpoints (no hourly charge) for the services the jobs move data with.
GATEWAY_ENDPOINT_SERVICES = ("s3", "dynamodb")


@dataclass(frozen=True, slots=True)
class NetworkArgs:
    """Where the jobs run: configured subnets and security groups, or empty for a VPC of the stack's own."""

    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    assign_public_ip: bool


@dataclass(frozen=True, slots=True)
class JobNetwork:
    """The subnets and security groups a compute environment places the jobs' tasks in."""

    subnet_ids: list[pulumi.Input[str]]
    security_group_ids: list[pulumi.Input[str]]


def egress_only_rules() -> list[aws.ec2.SecurityGroupEgressArgsDict]:
    """The jobs' security group: HTTPS out (AWS APIs, ECR), nothing in."""
    return [
        {
            "description": "HTTPS to AWS APIs and ECR",
            "protocol": "tcp",
            "from_port": HTTPS_PORT,
            "to_port": HTTPS_PORT,
            "cidr_blocks": [ANYWHERE],
        }
    ]


def gateway_endpoint_service(region: str, service: str) -> str:
    """The service name of a gateway endpoint (`com.amazonaws.<region>.<service>`)."""
    return f"com.amazonaws.{region}.{service}"


def job_network(name: str, network: NetworkArgs, region: str, parent: pulumi.Resource) -> JobNetwork:
    """The configured network, or a VPC of the stack's own whose resources are named `{name}-<role>`."""
    if network.subnet_ids:
        return JobNetwork(list(network.subnet_ids), list(network.security_group_ids))
    child = pulumi.ResourceOptions(parent=parent)
    vpc = aws.ec2.Vpc(
        f"{name}-vpc", cidr_block=VPC_CIDR, enable_dns_support=True, enable_dns_hostnames=True, opts=child
    )
    gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
    routes = aws.ec2.RouteTable(
        f"{name}-routes", vpc_id=vpc.id, routes=[{"cidr_block": ANYWHERE, "gateway_id": gateway.id}], opts=child
    )
    zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=parent))
    subnets: list[pulumi.Input[str]] = []
    for index, cidr in enumerate(SUBNET_CIDRS):
        subnet = aws.ec2.Subnet(
            f"{name}-subnet-{index}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zones.names.apply(functools.partial(_zone, index)),
            map_public_ip_on_launch=True,
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-subnet-{index}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
        )
        subnets.append(subnet.id)
    for service in GATEWAY_ENDPOINT_SERVICES:
        aws.ec2.VpcEndpoint(
            f"{name}-{service}-endpoint",
            vpc_id=vpc.id,
            service_name=gateway_endpoint_service(region, service),
            vpc_endpoint_type="Gateway",
            route_table_ids=[routes.id],
            opts=child,
        )
    group = aws.ec2.SecurityGroup(
        f"{name}-jobs-sg",
        description="autoretrain Batch jobs: no inbound traffic, HTTPS out",
        vpc_id=vpc.id,
        ingress=[],
        egress=egress_only_rules(),
        opts=child,
    )
    return JobNetwork(subnets, [group.id])


def _zone(index: int, names: Sequence[str]) -> str:
    return names[index]
