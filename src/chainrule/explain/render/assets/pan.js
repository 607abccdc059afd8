// Panning a scrolling region with a mouse drag, and zooming it with ctrl + wheel, shared by
// the network page and the graph page (a touch pans natively, as the region scrolls). A drag
// of under 5 px is a click; `wasDragged()` tells a click handler that the pointer-up ended a
// pan, not a selection.

function dragToPan(scroller) {
  let drag = null;
  let dragged = false;
  scroller.addEventListener("pointerdown", (event) => {
    if (event.pointerType !== "mouse" || event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, left: scroller.scrollLeft,
      top: scroller.scrollTop, id: event.pointerId };
    dragged = false;
  });
  scroller.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!dragged && Math.hypot(dx, dy) < 5) return;
    if (!dragged) scroller.setPointerCapture(drag.id);
    dragged = true;
    scroller.classList.add("is-panning");
    scroller.scrollLeft = drag.left - dx;
    scroller.scrollTop = drag.top - dy;
  });
  const endDrag = () => {
    drag = null;
    scroller.classList.remove("is-panning");
    setTimeout(() => { dragged = false; }, 0);
  };
  scroller.addEventListener("pointerup", endDrag);
  scroller.addEventListener("pointercancel", endDrag);
  return { wasDragged: () => dragged };
}

// ctrl + wheel zooms by 10 % a notch about the pointer; `zoomOf()` is the current zoom and
// `setZoom(z, anchor)` the page's own (anchor: the point, in the region, that stays put).
function wheelZoom(scroller, zoomOf, setZoom) {
  scroller.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    const box = scroller.getBoundingClientRect();
    setZoom(zoomOf() * (event.deltaY < 0 ? 1.1 : 1 / 1.1),
      { x: event.clientX - box.left, y: event.clientY - box.top });
  }, { passive: false });
}
