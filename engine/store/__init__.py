"""The state store: the only state the manager's components share.

Owns: versioned objects, transactions, watch queues and persistence. Does not own: what the
objects mean (engine.api) or who changes them (engine.manager). The verbs mirror SwarmKit's:

    task = store.get_task(tx, task_id)
    tasks = store.find_tasks(tx, by.service_id(service.id))
    store.update_task(tx, replace(task, desired_state=TaskState.SHUTDOWN))
"""

from __future__ import annotations

from engine.api.objects import Cluster, Config, Network, Node, Secret, Service, Task
from engine.store import by
from engine.store.by import By
from engine.store.memory import MemoryStore, Persistence, ReadTx, Tx
from engine.store.sqlite import SqlitePersistence, StateNotSaved, StateSealed
from engine.store.watch import CATCH_UP, Watcher, WatchOverflow

__all__ = [
    "CATCH_UP",
    "By",
    "MemoryStore",
    "Persistence",
    "ReadTx",
    "SqlitePersistence",
    "StateNotSaved",
    "StateSealed",
    "Tx",
    "WatchOverflow",
    "Watcher",
    "by",
    "create_network",
    "create_node",
    "create_service",
    "create_task",
    "delete_network",
    "delete_node",
    "delete_service",
    "delete_task",
    "find_networks",
    "find_nodes",
    "find_services",
    "find_tasks",
    "get_cluster",
    "get_config",
    "get_network",
    "get_node",
    "get_secret",
    "get_service",
    "get_task",
    "node_tasks",
    "task_service_ids",
    "update_cluster",
    "update_network",
    "update_node",
    "update_service",
    "update_task",
]


def get_node(tx: ReadTx, node_id: str) -> Node | None:
    return tx.get(Node, node_id)


def find_nodes(tx: ReadTx, selector: By) -> list[Node]:
    return tx.find(Node, selector)


def create_node(tx: Tx, node: Node) -> Node:
    return tx.create(node)


def update_node(tx: Tx, node: Node) -> Node:
    return tx.update(node)


def delete_node(tx: Tx, node_id: str) -> None:
    tx.delete(Node, node_id)


def get_service(tx: ReadTx, service_id: str) -> Service | None:
    return tx.get(Service, service_id)


def find_services(tx: ReadTx, selector: By) -> list[Service]:
    return tx.find(Service, selector)


def node_tasks(tx: ReadTx, node_id: str) -> tuple[dict[str, Service], list[Task]]:
    """The tasks on a node, and the services they belong to."""
    tasks = find_tasks(tx, by.node_id(node_id))
    services = (get_service(tx, i) for i in {task.service_id for task in tasks})
    return {service.id: service for service in services if service is not None}, tasks


def task_service_ids(tx: ReadTx) -> list[str]:
    """The IDs of the services that have tasks: removed services whose tasks are still there
    among them."""
    return tx.keys(Task, "service_id")


def create_service(tx: Tx, service: Service) -> Service:
    return tx.create(service)


def update_service(tx: Tx, service: Service) -> Service:
    return tx.update(service)


def delete_service(tx: Tx, service_id: str) -> None:
    tx.delete(Service, service_id)


def get_task(tx: ReadTx, task_id: str) -> Task | None:
    return tx.get(Task, task_id)


def find_tasks(tx: ReadTx, selector: By) -> list[Task]:
    return tx.find(Task, selector)


def create_task(tx: Tx, task: Task) -> Task:
    return tx.create(task)


def update_task(tx: Tx, task: Task) -> Task:
    return tx.update(task)


def delete_task(tx: Tx, task_id: str) -> None:
    tx.delete(Task, task_id)


def get_cluster(tx: ReadTx) -> Cluster | None:
    clusters = tx.find(Cluster, by.all())
    return clusters[0] if clusters else None


def update_cluster(tx: Tx, cluster: Cluster) -> Cluster:
    return tx.update(cluster)


def get_network(tx: ReadTx, network_id: str) -> Network | None:
    return tx.get(Network, network_id)


def find_networks(tx: ReadTx, selector: By) -> list[Network]:
    return tx.find(Network, selector)


def create_network(tx: Tx, network: Network) -> Network:
    return tx.create(network)


def update_network(tx: Tx, network: Network) -> Network:
    return tx.update(network)


def delete_network(tx: Tx, network_id: str) -> None:
    tx.delete(Network, network_id)


def get_secret(tx: ReadTx, secret_id: str) -> Secret | None:
    return tx.get(Secret, secret_id)


def get_config(tx: ReadTx, config_id: str) -> Config | None:
    return tx.get(Config, config_id)
