//! Proposing an order that links: archives ordered by the strongly connected components of
//! their dependency graph, a cycle grouped (or named twice), each proposal checked by the
//! replay before it is offered.

use std::collections::HashMap;

use super::model::*;

/// An order that links, the same with archives named twice instead of grouped, and the cycles.
pub(super) type Proposal = (Option<Vec<Item>>, Option<Vec<Item>>, Vec<Vec<String>>);

/// An order of the user's inputs that links, the same with archives repeated instead of
/// grouped (when there are cycles and that links too), and the cycles.
pub(super) fn propose(line: &Line) -> Proposal {
    // The system's inputs keep their places: before the user's, after them, or both.
    let user: Vec<usize> = line
        .items
        .iter()
        .flat_map(|i| flatten(i.clone()))
        .filter(|&i| !line.inputs[i].system)
        .collect();
    let first_user = line
        .items
        .iter()
        .position(|i| flatten(i.clone()).iter().any(|&j| !line.inputs[j].system));
    let (before, after): (Vec<Item>, Vec<Item>) = {
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (n, item) in line.items.iter().enumerate() {
            let system = flatten(item.clone()).iter().all(|&j| line.inputs[j].system);
            if system && first_user.is_some_and(|f| n < f) {
                before.push(item.clone());
            } else if system {
                after.push(item.clone());
            }
        }
        (before, after)
    };
    let objects: Vec<usize> = user
        .iter()
        .copied()
        .filter(|&i| line.inputs[i].kind == Kind::Object)
        .collect();
    let archives: Vec<usize> = user
        .iter()
        .copied()
        .filter(|&i| line.inputs[i].kind == Kind::Archive)
        .collect();
    let shared: Vec<usize> = user
        .iter()
        .copied()
        .filter(|&i| line.inputs[i].kind == Kind::Shared)
        .collect();
    let assemble = |middle: Vec<Item>| -> Vec<Item> {
        before
            .iter()
            .cloned()
            .chain(objects.iter().map(|&i| Item::One(i)))
            .chain(middle)
            .chain(shared.iter().map(|&i| Item::One(i)))
            .chain(after.iter().cloned())
            .collect()
    };
    // Everything in one group resolves all it can: its pulls give the dependencies. Which
    // members a group pulls in can depend on the order inside it (two members defining the
    // same symbol), so when the given order fails, others are tried.
    let Some((archives, all, ideal)) = archive_orders(&archives).into_iter().find_map(|archives| {
        let all = assemble(vec![Item::Group(archives.clone())]);
        let ideal = line.resolve(&all);
        ideal.links().then_some((archives, all, ideal))
    }) else {
        return (None, None, Vec::new());
    };
    let slot: HashMap<usize, usize> = archives.iter().enumerate().map(|(n, &i)| (i, n)).collect();
    let mut edges = vec![Vec::new(); archives.len()];
    for &id in &ideal.order {
        let Some(&from) = slot.get(&id.0) else {
            continue;
        };
        for &(sym, _) in &line.unit(id).needs {
            if let Some(&((input, _), _)) = ideal.defined.get(&sym)
                && let Some(&to) = slot.get(&input)
                && to != from
                && !edges[from].contains(&to)
            {
                edges[from].push(to);
            }
        }
    }
    let components = strongly_connected(&edges);
    let cycles: Vec<Vec<String>> = components
        .iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            c.iter()
                .map(|&n| line.inputs[archives[n]].shown.clone())
                .collect()
        })
        .collect();
    let middle = |twice: bool| -> Vec<Item> {
        let mut items = Vec::new();
        for c in &components {
            let members: Vec<usize> = c.iter().map(|&n| archives[n]).collect();
            if members.len() == 1 {
                items.push(Item::One(members[0]));
            } else if twice {
                items.extend(members.iter().map(|&i| Item::One(i)));
                items.extend(members[..members.len() - 1].iter().map(|&i| Item::One(i)));
            } else {
                items.push(Item::Group(members));
            }
        }
        items
    };
    let best = assemble(middle(false));
    let proposal = if line.resolve(&best).links() {
        best
    } else {
        all
    };
    let repeated = if cycles.is_empty() {
        None
    } else {
        let twice = assemble(middle(true));
        line.resolve(&twice).links().then_some(twice)
    };
    (Some(proposal), repeated, cycles)
}

/// The given order with as few changes as make it link: an input that defines what a later
/// input needs moves to just after the last input that needs it, and inputs that keep needing
/// each other (a move undone by the next) are grouped where the later stands. Inputs the driver
/// added never move. `None` when no such moves make it link: a symbol defined by no input, or
/// defined twice.
pub(crate) fn minimal(line: &Line) -> Option<Vec<Item>> {
    let mut items = line.items.clone();
    let mut moves = vec![0usize; line.inputs.len()];
    let position = |items: &[Item], input: usize| {
        items
            .iter()
            .position(|item| flatten(item.clone()).contains(&input))
    };
    for _ in 0..4 * line.inputs.len() + 4 {
        let r = line.resolve(&items);
        if r.links() {
            return Some(items);
        }
        if !r.multiple.is_empty() {
            return None;
        }
        let (sym, by) = r
            .strongly_undefined()
            .find(|(sym, _)| !line.definers(**sym).is_empty())?;
        let definer = line
            .definers(*sym)
            .into_iter()
            .map(|id| id.0)
            .find(|&i| !line.inputs[i].system)?;
        let from = position(&items, definer)?;
        let last = by.iter().filter_map(|id| position(&items, id.0)).max()?;
        if from >= last {
            return None;
        }
        moves[definer] += 1;
        let item = items.remove(from);
        if moves[definer] > 1 {
            // It moved before: what it needs and what needs it need each other. Group them.
            let needer = items.remove(last - 1);
            let mut members = flatten(needer);
            members.extend(flatten(item));
            items.insert(last - 1, Item::Group(members));
        } else {
            items.insert(last, item);
        }
    }
    None
}

/// The orders of archives to try: the given one first, then every other when there are at
/// most six, else the given one reversed.
fn archive_orders(archives: &[usize]) -> Vec<Vec<usize>> {
    fn permute(rest: &mut Vec<usize>, done: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(done.clone());
            return;
        }
        for k in 0..rest.len() {
            let next = rest.remove(k);
            done.push(next);
            permute(rest, done, out);
            done.pop();
            rest.insert(k, next);
        }
    }
    let mut out = Vec::new();
    if archives.len() <= 6 {
        permute(&mut archives.to_vec(), &mut Vec::new(), &mut out);
    } else {
        out.push(archives.to_vec());
        out.push(archives.iter().rev().copied().collect());
    }
    out
}

/// Tarjan's strongly connected components, in an order where every edge goes from an earlier
/// component to a later one (a needer before what it needs); within a component and between
/// unrelated ones, the nodes' own order is kept as far as possible.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    // Tarjan emits a component after everything it reaches: reversed, needers come first.
    s.out.reverse();
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_needers_first_and_cycles_together() {
        // 0 needs 1, 1 and 2 need each other, 2 needs 3; 4 stands alone.
        let edges = vec![vec![1], vec![2], vec![1, 3], vec![], vec![]];
        let components = strongly_connected(&edges);
        let position = |n: usize| components.iter().position(|c| c.contains(&n)).unwrap();
        assert!(components.contains(&vec![1, 2]), "{components:?}");
        assert!(
            position(0) < position(1) && position(2) < position(3),
            "{components:?}"
        );
        assert_eq!(components.len(), 4);
    }

    #[test]
    fn archive_orders_start_with_the_given_one() {
        assert_eq!(archive_orders(&[4, 2]), [vec![4, 2], vec![2, 4]]);
        assert_eq!(archive_orders(&[1, 2, 3]).len(), 6);
        assert_eq!(archive_orders(&(0..7).collect::<Vec<_>>()).len(), 2);
    }
}
