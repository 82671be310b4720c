/// The topics of one subscriber. Nearly every subscriber has exactly one (`/ws?topic=task:<id>`,
/// a bench `/sub/<topic>`), which is kept inline; a `Set` is allocated only from the second on.
/// An idle subscriber is then ~100 bytes smaller (S3: a one-element Set's storage).
struct TopicSet: Sequence, ExpressibleByArrayLiteral {
    private enum Storage {
        case empty
        case one(String)
        case many(Set<String>)
    }

    private var storage: Storage = .empty

    init() {}

    init(arrayLiteral topics: String...) {
        for topic in topics { insert(topic) }
    }

    var isEmpty: Bool {
        switch storage {
        case .empty: return true
        case .one: return false
        case .many(let set): return set.isEmpty
        }
    }

    var count: Int {
        switch storage {
        case .empty: return 0
        case .one: return 1
        case .many(let set): return set.count
        }
    }

    func contains(_ topic: String) -> Bool {
        switch storage {
        case .empty: return false
        case .one(let only): return only == topic
        case .many(let set): return set.contains(topic)
        }
    }

    mutating func insert(_ topic: String) {
        switch storage {
        case .empty:
            storage = .one(topic)
        case .one(let only):
            if only != topic { storage = .many([only, topic]) }
        case .many(var set):
            storage = .empty  // keep the set uniquely referenced while inserting
            set.insert(topic)
            storage = .many(set)
        }
    }

    mutating func remove(_ topic: String) {
        switch storage {
        case .empty:
            break
        case .one(let only):
            if only == topic { storage = .empty }
        case .many(var set):
            storage = .empty
            set.remove(topic)
            storage = set.isEmpty ? .empty : .many(set)
        }
    }

    struct Iterator: IteratorProtocol {
        fileprivate var one: String?
        fileprivate var many: Set<String>.Iterator?

        mutating func next() -> String? {
            if let only = one {
                one = nil
                return only
            }
            return many?.next()
        }
    }

    func makeIterator() -> Iterator {
        switch storage {
        case .empty: return Iterator(one: nil, many: nil)
        case .one(let only): return Iterator(one: only, many: nil)
        case .many(let set): return Iterator(one: nil, many: set.makeIterator())
        }
    }
}

/// One topic's normal subscribers by identity. Most topics have exactly one (a task watched by
/// one page, S2's 10,000 topics), kept inline; a dictionary is allocated only from the second on.
struct SubscriberMap {
    private enum Storage {
        case empty
        case one(ObjectIdentifier, WebSocketConnection)
        case many([ObjectIdentifier: WebSocketConnection])
    }

    private var storage: Storage = .empty

    var isEmpty: Bool {
        switch storage {
        case .empty: return true
        case .one: return false
        case .many(let map): return map.isEmpty
        }
    }

    subscript(id: ObjectIdentifier) -> WebSocketConnection? {
        get {
            switch storage {
            case .empty: return nil
            case .one(let key, let socket): return key == id ? socket : nil
            case .many(let map): return map[id]
            }
        }
        set {
            guard let newValue else {
                removeValue(forKey: id)
                return
            }
            switch storage {
            case .empty:
                storage = .one(id, newValue)
            case .one(let key, let socket):
                storage = key == id ? .one(id, newValue) : .many([key: socket, id: newValue])
            case .many(var map):
                storage = .empty  // keep the dictionary uniquely referenced while changing it
                map[id] = newValue
                storage = .many(map)
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: ObjectIdentifier) -> WebSocketConnection? {
        switch storage {
        case .empty:
            return nil
        case .one(let key, let socket):
            guard key == id else { return nil }
            storage = .empty
            return socket
        case .many(var map):
            storage = .empty
            let removed = map.removeValue(forKey: id)
            storage = map.isEmpty ? .empty : .many(map)
            return removed
        }
    }

    /// The subscribers, as of now: changing the map while walking them (a socket closed during
    /// fan-out) does not disturb the walk, as with a dictionary's `values`.
    var values: Values {
        switch storage {
        case .empty: return Values(one: nil, many: nil)
        case .one(_, let socket): return Values(one: socket, many: nil)
        case .many(let map): return Values(one: nil, many: map.values)
        }
    }

    struct Values: Sequence {
        fileprivate let one: WebSocketConnection?
        fileprivate let many: Dictionary<ObjectIdentifier, WebSocketConnection>.Values?

        struct Iterator: IteratorProtocol {
            fileprivate var one: WebSocketConnection?
            fileprivate var many: Dictionary<ObjectIdentifier, WebSocketConnection>.Values.Iterator?

            mutating func next() -> WebSocketConnection? {
                if let socket = one {
                    one = nil
                    return socket
                }
                return many?.next()
            }
        }

        func makeIterator() -> Iterator { Iterator(one: one, many: many?.makeIterator()) }
    }
}
