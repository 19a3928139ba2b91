"""python -m simulator.fake_discord [--host H] [--port N]: serve a fake with the default guild."""

from simulator.fake_discord.server import main

main()
