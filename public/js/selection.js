// The rows the person has selected for a batch action. Ids only, no DOM: the view draws the
// checkboxes, the batch bar the count. Invariant kept by the view: only rows on the list (shown
// under the current filters) are selected — a row that a filter hides, or that is removed, is
// dropped — so an action never touches a task the person cannot see.

export function createSelection({ onChange = () => {} } = {}) {
  const ids = new Set();
  let anchor = null;              // the last row toggled by hand: the start of a shift-range

  function change(list, on) {
    const changed = [];
    for (const id of list) {
      if (on === ids.has(id)) continue;
      if (on) ids.add(id); else ids.delete(id);
      changed.push(id);
    }
    if (changed.length) onChange(changed);
    return changed;
  }

  return {
    get size() { return ids.size; },
    has: (id) => ids.has(id),
    /** The selected ids, in the order given (display order), else insertion order. */
    list(order) { return order ? order.filter((id) => ids.has(id)) : [...ids]; },
    /** A click on a row's checkbox; with shift, every row between the anchor and this one in
     * `order` (the shown rows, top to bottom) takes the same state. */
    toggle(id, on, { range = false, order = null } = {}) {
      if (range && anchor !== null && order) {
        const a = order.indexOf(anchor), b = order.indexOf(id);
        if (a >= 0 && b >= 0) {
          change(order.slice(Math.min(a, b), Math.max(a, b) + 1), on);
          anchor = id;
          return;
        }
      }
      anchor = id;
      change([id], on);
    },
    set: (list, on) => change(list, on),
    drop(list) { for (const id of list) if (id === anchor) anchor = null; return change(list, false); },
    clear() { anchor = null; return change([...ids], false); },
  };
}
