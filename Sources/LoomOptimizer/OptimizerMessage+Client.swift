import LoomClient
import LoomWire

extension OptimizerMessage {
    /// Hands the message to a `ClientStateMachine` (what `BrokerClient` does for the service):
    /// for anything that runs the machine over its own connection, e.g. a simulated network.
    public func send(through client: inout ClientStateMachine, now: ContinuousClock.Instant) -> [ClientAction] {
        switch self {
        case .acknowledge(let update): client.acknowledge(update, now: now)
        case .submit(let jobs): client.submit(jobs, now: now).actions
        case .cancel(let jobs, let reason): client.cancel(jobs, reason: reason, now: now).actions
        case .follow(let jobs): client.followed(jobs)
        case .respond(let request, let to, let body): client.respond(request: request, to: to, body: body, now: now)
        case .transfer(let transfer): client.transfer(transfer, now: now)
        }
    }
}
