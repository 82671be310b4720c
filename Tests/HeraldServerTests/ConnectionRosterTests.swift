import Testing
@testable import HeraldServer

/// `Roster`, the server's sets of open connections: every member inserted and not removed is in
/// `values` exactly once, with its own index, whatever the order of inserts and removals.
@Suite struct ConnectionRosterTests {
    final class Member: RosterMember {
        var rosterIndex: Int32 = -1
        let id: Int
        init(_ id: Int) { self.id = id }
    }

    private func check(_ roster: Roster<Member>, holds expected: Set<Int>) {
        #expect(Set(roster.values.map(\.id)) == expected)
        #expect(roster.count == expected.count)
        for (i, member) in roster.values.enumerated() { #expect(Int(member.rosterIndex) == i) }
    }

    @Test func randomInsertsAndRemovalsKeepEveryMemberOnceWithItsIndex() {
        var rng = SystemRandomNumberGenerator()
        var roster = Roster<Member>()
        var members = (0..<200).map { Member($0) }
        var inside = Set<Int>()
        for _ in 0..<5000 {
            let member = members[Int.random(in: 0..<members.count, using: &rng)]
            if Bool.random(using: &rng) {
                roster.insert(member)
                inside.insert(member.id)
            } else {
                roster.remove(member)
                inside.remove(member.id)
                #expect(member.rosterIndex == -1)
            }
        }
        check(roster, holds: inside)
        for member in members { roster.remove(member) }
        check(roster, holds: [])
        members.removeAll()
    }

    @Test func removingTwiceOrAStrangerChangesNothing() {
        var roster = Roster<Member>()
        let a = Member(1), b = Member(2), c = Member(3)
        roster.insert(a)
        roster.insert(b)
        roster.insert(b)  // already in: not added twice
        check(roster, holds: [1, 2])
        roster.remove(a)
        roster.remove(a)
        roster.remove(c)  // never inserted
        check(roster, holds: [2])
        var other = Roster<Member>()
        other.insert(c)
        c.rosterIndex = 0  // c claims index 0 of `roster` too, where b is: not removed
        roster.remove(c)
        check(roster, holds: [2])
    }
}
