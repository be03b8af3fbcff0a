//! A group of model replicas that take optimizer steps together: one per device, data parallel.
//!
//! Every replica holds the same model and optimizer state. Each computes its share of a step's
//! micro-batches (micro-batch k goes to replica k mod n) with the one LoRA step
//! (`guardtune_lora::step`); the gradients and summed losses are added across replicas with
//! Burn's collective all-reduce, so every replica applies the same clipped AdamW update and the
//! copies never drift apart. With one device this is plain gradient accumulation, and nothing
//! is summed.
//!
//! The first replica (the leader) lives in the caller's thread, which evaluates and saves it;
//! each other replica is a thread that builds its own copy and then waits for steps. They
//! build while the leader does other work, and join the collective on their first step, so a
//! replica that fails to start is reported instead of leaving the others waiting.
//!
//! On the CPU backend the "devices" are replicas sharing the machine's cores: each computes in
//! a thread pool of its own share of the cores. A small model's operations are too small to
//! keep several cores busy each, so replicas that each use one core run faster than one model
//! that spreads every operation over all of them (measured on 2 cores, small shape: 1.4x).

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Result};
use burn::collective::{
    all_reduce, finish_collective, register, CollectiveConfig, PeerId, ReduceOperation,
};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Device, Tensor, TensorPrimitive};
use guardtune_lora::{
    adapter_params, param, step, AdamW, Gradients, Share, StepInput, StepOutcome, StepSettings,
    StepSums,
};
use guardtune_model::LlamaForCausalLM;

/// What each device trains: the frozen base with adapters, and its optimizer.
pub struct Replica<B: AutodiffBackend> {
    pub model: LlamaForCausalLM<B>,
    pub optimizer: AdamW<B::InnerBackend>,
}

/// Builds a device's replica; every device gets the same one (same seed, same checkpoint).
pub type BuildReplica<B> = Arc<dyn Fn(&Device<B>) -> Result<Replica<B>> + Send + Sync + 'static>;

/// The replicas of a run. Dropping the group stops the other replicas' threads.
pub struct ReplicaGroup<B: AutodiffBackend> {
    leader: Replica<B>,
    device: B::Device,
    settings: StepSettings,
    followers: Vec<Follower>,
    /// The leader's place in the collective, joined on the first step.
    peer: Option<Peer<B>>,
}

/// The leader's handle on another replica's thread.
struct Follower {
    /// Closed to stop the thread.
    steps: Option<Sender<Arc<StepInput>>>,
    /// First whether the replica was built, then the outcome of each step.
    replies: Receiver<Result<()>>,
    thread: Option<JoinHandle<()>>,
}

impl<B: AutodiffBackend> ReplicaGroup<B> {
    /// Builds the leader's replica on the first device and starts one thread per other device,
    /// each building its own.
    pub fn spawn(
        devices: &[B::Device],
        settings: StepSettings,
        build: BuildReplica<B>,
    ) -> Result<Self> {
        let device = devices.first().ok_or_else(|| anyhow!("no device given"))?.clone();
        let leader = build(&device)?;
        let count = devices.len();
        let followers = (1..count)
            .map(|index| {
                Follower::spawn(index, count, devices[index].clone(), settings, build.clone())
            })
            .collect();
        Ok(ReplicaGroup { leader, device, settings, followers, peer: None })
    }

    /// The leader's replica: the one to evaluate and save.
    pub fn leader(&self) -> &Replica<B> {
        &self.leader
    }

    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Number of replicas (devices).
    pub fn replicas(&self) -> usize {
        1 + self.followers.len()
    }

    /// One optimizer step of every replica on `input`.
    pub fn step(&mut self, input: StepInput) -> Result<StepOutcome> {
        let count = self.replicas();
        if self.peer.is_none() {
            for follower in &self.followers {
                follower.reply("while starting")?;
            }
        }
        let input = Arc::new(input);
        for follower in &self.followers {
            let sent = follower.steps.as_ref().is_some_and(|s| s.send(input.clone()).is_ok());
            if !sent {
                return Err(anyhow!("a data-parallel device stopped"));
            }
        }
        // Joining returns once every replica has joined, which the others do on their first
        // step: they must have it first.
        let peer = match &self.peer {
            Some(peer) => peer,
            None => self.peer.insert(Peer::join(0, count, &self.device)?),
        };
        let Replica { model, optimizer } = &mut self.leader;
        let outcome = peer.step(model, optimizer, &input, self.settings, &self.device)?;
        for follower in &self.followers {
            follower.reply("during a step")?;
        }
        Ok(outcome)
    }
}

impl<B: AutodiffBackend> Drop for ReplicaGroup<B> {
    fn drop(&mut self) {
        // Closing the channels ends the threads' loops; then wait for them.
        for follower in &mut self.followers {
            follower.steps.take();
        }
        for follower in &mut self.followers {
            if let Some(thread) = follower.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Follower {
    fn spawn<B: AutodiffBackend>(
        index: usize,
        count: usize,
        device: B::Device,
        settings: StepSettings,
        build: BuildReplica<B>,
    ) -> Self {
        let (steps, inputs) = channel::<Arc<StepInput>>();
        let (reply, replies) = channel::<Result<()>>();
        let thread =
            std::thread::Builder::new().name(format!("replica {index}")).spawn(move || {
                let Replica { mut model, mut optimizer } = match build(&device) {
                    Ok(replica) => replica,
                    Err(e) => return drop(reply.send(Err(anyhow!("device {index}: {e:#}")))),
                };
                if reply.send(Ok(())).is_err() {
                    return;
                }
                let mut peer = None;
                for input in inputs {
                    let peer = match &peer {
                        Some(peer) => peer,
                        None => match Peer::<B>::join(index, count, &device) {
                            Ok(joined) => peer.insert(joined),
                            Err(e) => return drop(reply.send(Err(e))),
                        },
                    };
                    let outcome = peer.step(&mut model, &mut optimizer, &input, settings, &device);
                    if reply.send(outcome.map(|_| ())).is_err() {
                        return;
                    }
                }
            });
        let thread = thread.expect("the operating system could not start a replica thread");
        Follower { steps: Some(steps), replies, thread: Some(thread) }
    }

    /// The follower's next reply: `Ok` when it built its replica or finished its step.
    fn reply(&self, when: &str) -> Result<()> {
        self.replies.recv().map_err(|_| anyhow!("a data-parallel device stopped {when}"))?
    }
}

/// One replica's place in the collective: its index among `count`. Dropping it leaves the
/// collective, so another run in this process can form a new group.
struct Peer<B: AutodiffBackend> {
    share: Share,
    /// This replica's share of the cores, when several replicas share the CPU.
    threads: Option<rayon::ThreadPool>,
    _backend: PhantomData<B>,
}

impl<B: AutodiffBackend> Peer<B> {
    /// Joins as replica `index` of `count`; with several this registers with Burn's collective
    /// and returns once every replica has.
    fn join(index: usize, count: usize, device: &B::Device) -> Result<Self> {
        let mut threads = None;
        if count > 1 {
            let config = CollectiveConfig::default().with_num_devices(count);
            register::<B::InnerBackend>(PeerId(index as u32), device.clone(), config).map_err(
                |e| anyhow!("device {index} could not join the data-parallel group: {e:?}"),
            )?;
            if TypeId::of::<B::InnerBackend>() == TypeId::of::<burn::backend::Flex>() {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads((cores / count).max(1))
                    .thread_name(move |i| format!("replica {index} #{i}"))
                    .build();
                threads = Some(
                    pool.map_err(|e| anyhow!("device {index}: cannot start its threads: {e}"))?,
                );
            }
        }
        Ok(Peer { share: Share { index, count }, threads, _backend: PhantomData })
    }

    /// This replica's share of the step, summed with the other replicas'.
    fn step(
        &self,
        model: &mut LlamaForCausalLM<B>,
        optimizer: &mut AdamW<B::InnerBackend>,
        input: &StepInput,
        settings: StepSettings,
        device: &B::Device,
    ) -> Result<StepOutcome> {
        let mut compute = || {
            // A replica without a gradient for a parameter contributes zeros, so all reduce the
            // same tensors in the same order.
            let zeros: Gradients<B> = adapter_params(model)
                .into_iter()
                .map(|name| (name, param(model, name).val().inner().zeros_like()))
                .collect();
            let reduce = |sums: StepSums<B>| -> Result<StepSums<B>> {
                if self.share.count == 1 {
                    return Ok(sums);
                }
                let (loss_sum, computed_tokens) =
                    self.sum_counts(sums.loss_sum, sums.computed_tokens, device)?;
                Ok(StepSums {
                    loss_sum,
                    computed_tokens,
                    grads: self.sum_gradients(zeros, sums.grads)?,
                })
            };
            step(model, optimizer, input, self.share, settings, device, reduce)
        };
        match &self.threads {
            Some(pool) => pool.install(compute),
            None => compute(),
        }
    }

    /// Every adapter gradient summed over the replicas; `zeros` holds every adapter
    /// parameter, in place of the gradients this replica does not have.
    fn sum_gradients(&self, zeros: Gradients<B>, mut grads: Gradients<B>) -> Result<Gradients<B>> {
        let mut summed = Gradients::<B>::new();
        for (name, zero) in zeros {
            let local = grads.remove(&name).unwrap_or(zero);
            summed.insert(name, self.all_reduce_sum(local)?);
        }
        Ok(summed)
    }

    /// The loss sum and the computed tokens summed over the replicas, in one collective (a
    /// step's token count is far below 2^24, so f32 holds it exactly).
    fn sum_counts(
        &self,
        loss_sum: f64,
        computed_tokens: usize,
        device: &B::Device,
    ) -> Result<(f64, usize)> {
        let local = Tensor::<B::InnerBackend, 1>::from_floats(
            [loss_sum as f32, computed_tokens as f32],
            device,
        );
        let summed: Vec<f32> = self
            .all_reduce_sum(local)?
            .into_data()
            .to_vec()
            .map_err(|e| anyhow!("all-reduce result: {e:?}"))?;
        Ok((f64::from(summed[0]), summed[1].round() as usize))
    }

    fn all_reduce_sum<K: Backend, const D: usize>(
        &self,
        tensor: Tensor<K, D>,
    ) -> Result<Tensor<K, D>> {
        let peer = PeerId(self.share.index as u32);
        let summed = all_reduce::<K>(peer, tensor.into_primitive().tensor(), ReduceOperation::Sum)
            .map_err(|e| anyhow!("all-reduce failed on device {}: {e:?}", self.share.index))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(summed)))
    }
}

impl<B: AutodiffBackend> Drop for Peer<B> {
    fn drop(&mut self) {
        if self.share.count > 1 {
            // Nothing useful can be done about a failure to leave at the end of a run.
            let _ = finish_collective::<B::InnerBackend>(PeerId(self.share.index as u32));
        }
    }
}
