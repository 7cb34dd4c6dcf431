"""Agents: networks (``Agent`` interface, ``step_agent``) and PPO."""

from ued.agents.networks import (ActorCritic, Agent, GaussianActorCritic, categorical_agent, gaussian_agent,
                                 lidar_agent, maze_agent, random_agent, step_agent, vector_agent,
                                 VectorActorCritic)
from ued.agents.ppo import PPOConfig, Trajectory, make_optimizer, ppo_loss, ppo_update

__all__ = ["ActorCritic", "Agent", "GaussianActorCritic", "PPOConfig", "Trajectory", "categorical_agent", "gaussian_agent",
           "lidar_agent", "make_optimizer", "maze_agent", "ppo_loss", "ppo_update", "random_agent", "step_agent",
           "vector_agent", "VectorActorCritic"]
