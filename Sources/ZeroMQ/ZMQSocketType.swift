import CZeroMQ

/// The kind of a ZeroMQ socket, which fixes its messaging pattern.
public enum ZMQSocketType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Exclusive one-to-one link (`ZMQ_PAIR`), mostly over `inproc://`.
    case pair
    /// Publisher (`ZMQ_PUB`): fans messages out to matching subscribers; never receives.
    case pub
    /// Subscriber (`ZMQ_SUB`): receives messages whose first frame starts with a subscription.
    case sub
    /// Strict request side of request/reply (`ZMQ_REQ`).
    case req
    /// Strict reply side of request/reply (`ZMQ_REP`).
    case rep
    /// Asynchronous peer that round-robins sends and fair-queues receives (`ZMQ_DEALER`).
    case dealer
    /// Asynchronous peer that prefixes each message with the sender's routing id (`ZMQ_ROUTER`).
    case router
    /// Pipeline consumer (`ZMQ_PULL`).
    case pull
    /// Pipeline producer (`ZMQ_PUSH`).
    case push
    /// Publisher that also receives subscription messages (`ZMQ_XPUB`).
    case xpub
    /// Subscriber that sends subscriptions as messages (`ZMQ_XSUB`).
    case xsub

    /// The libzmq constant (`ZMQ_ROUTER`, ...).
    public var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        }
    }

    /// The type for a libzmq constant, or nil for one this module does not wrap.
    public init?(rawValue: Int32) {
        guard let type = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = type
    }

    /// The libzmq name without its prefix: `"ROUTER"`, `"PUB"`, ...
    public var description: String {
        switch self {
        case .pair: "PAIR"
        case .pub: "PUB"
        case .sub: "SUB"
        case .req: "REQ"
        case .rep: "REP"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .pull: "PULL"
        case .push: "PUSH"
        case .xpub: "XPUB"
        case .xsub: "XSUB"
        }
    }
}
