"""Dialogs: a validation error keeps the dialog open with everything typed and marks every bad
field with a message in plain words; the same mistake reads the same in every form; an empty
image is an error; a label with an empty key or a space in its key is refused."""

from __future__ import annotations

from textual.widgets import Input, Label

from console.app import SwarmdeckApp
from console.screens.dialogs import FormDialog
from tests.console.conftest import Served, wait_api, wait_for
from tests.console.test_actions import node, open_view, service


async def submit(pilot, app: SwarmdeckApp, **values: str) -> None:  # type: ignore[no-untyped-def]
    """Types ``values`` into the form on screen and submits it from its last field."""
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog))
    for key, value in values.items():
        app.screen.query_one(f"#field-{key}", Input).value = value
    list(app.screen.query(Input))[-1].focus()
    await pilot.press("enter")
    await pilot.pause(0.2)


def marked(app: SwarmdeckApp) -> dict[str, str]:
    """Each field marked bad, and what its label says."""
    return {
        str(label.id).removeprefix("label-"): str(label.render())
        for label in app.screen.query(Label)
        if label.has_class("-error")
    }


def typed(app: SwarmdeckApp) -> dict[str, str]:
    return {str(i.id).removeprefix("field-"): i.value for i in app.screen.query(Input)}


async def test_a_bad_create_stays_open_and_marks_every_bad_field(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("c")
        bad = {"name": "cache", "image": "", "replicas": "two", "ports": "80", "constraints": "x"}
        await submit(pilot, app, **bad)
        assert isinstance(app.screen, FormDialog)
        assert typed(app) == bad  # nothing typed is lost
        errors = marked(app)
        assert set(errors) == {"image", "replicas", "ports", "constraints"}
        assert errors["image"] == "image: an image is needed"
        assert errors["replicas"] == "replicas: 'two' is not a whole number of 0 or more"
        assert "'80' is not published:target" in errors["ports"]
        for text in errors.values():
            assert "$." not in text and "JSON" not in text
        assert app.screen.query_one("#field-image", Input).has_focus  # the first bad one
        await submit(pilot, app, image="redis:7", replicas="2", ports="6379:6379", constraints="")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormDialog))

        async def created() -> bool:
            return await service(engine, "cache") is not None

        await wait_api(pilot, created)


async def test_one_wording_for_the_same_mistake_everywhere(engine: Served) -> None:
    """ "two" replicas in the scale form and in the create form, and "two" as parallelism in
    the update form, read the same; a bad failure action and delay read in plain words."""
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        said = []
        for key, field, values in (
            ("s", "replicas", {"replicas": "two"}),
            ("c", "replicas", {"image": "nginx", "replicas": "two"}),
            ("u", "parallelism", {"parallelism": "two", "delay": "soon", "failure_action": "x"}),
        ):
            await pilot.press(key)
            await submit(pilot, app, **values)
            errors = marked(app)
            said.append(errors[field].rsplit(": ", 1)[1])
            if field == "parallelism":
                assert (
                    errors["delay"] == "delay between batches: 'soon' is not a duration "
                    "(such as 5s, 1m30s)"
                )
                assert "'x' is not one of pause, continue, rollback" in errors["failure_action"]
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, FormDialog))
        assert said == ["'two' is not a whole number of 0 or more"] * 3
    web = await service(engine)
    assert web.spec.mode.replicated.replicas == 2 and web.spec.update_config is None


async def test_an_empty_image_is_an_error_not_a_silent_close(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "services")
        await pilot.press("i")
        await submit(pilot, app, image="")
        assert isinstance(app.screen, FormDialog)
        assert marked(app) == {"image": "image: an image is needed"}
    web = await service(engine)
    assert web.spec.task_template.container_spec.image == "nginx:1.10"


async def test_a_label_with_an_empty_key_or_a_space_is_refused(engine: Served) -> None:
    app = engine.app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_view(pilot, app, "nodes")
        before = (await node(engine, "swarm-master")).version.index
        await pilot.press("L")
        for labels, said in (
            ("zone=a, =b", "'=b': a key is needed before the ="),
            ("my zone=a", "'my zone=a': a key has no space in it"),
        ):
            await submit(pilot, app, labels=labels)
            assert marked(app) == {"labels": f"key=value, comma separated: {said}"}
            assert typed(app) == {"labels": labels}
        await pilot.press("escape")
    assert (await node(engine, "swarm-master")).version.index == before


def test_an_edited_spec_with_a_wrong_type_says_so_in_plain_words() -> None:
    from console.editing import read_spec
    from console.forms import FormError
    from engine.api.specs import ServiceSpec

    try:
        read_spec("Name: web\nMode:\n  Replicated:\n    Replicas: two\n", ServiceSpec)
    except FormError as error:
        said = str(error)
    else:
        raise AssertionError("a spec with text for replicas was read")
    assert said == "Mode.Replicated.Replicas: a whole number of at least 0 is needed, not text"
