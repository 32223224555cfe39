from django_tasks import task


@task
def greet(name: str) -> str:
    return f"Hello, {name}!"
