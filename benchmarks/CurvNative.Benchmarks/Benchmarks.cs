using BenchmarkDotNet.Attributes;

namespace CurvNative.Benchmarks;

// BenchmarkDotNet classes for the workloads of tools/bench_torch.py. Run them all in one process
// (--filter '*') so the GFLOP/s fraction column can refer to the sgemm measured in the same run.

/// <summary>MLP 784-256(tanh)-256(tanh)-10, cross-entropy mean, batch 256, float32.</summary>
[MemoryDiagnoser]
public class MlpBenchmarks
{
    private GradientWorkload _w = null!;

    [GlobalSetup] public void Setup() => _w = GradientWorkload.Mlp();

    /// <summary>Forward + backward to all six parameters.</summary>
    [Benchmark, Flops(Workloads.MlpGradFlops)] public object Gradient() => _w.Gradient();

    /// <summary>Forward and loss only (recording the graph, as the gradient does).</summary>
    [Benchmark, Flops(Workloads.MlpForwardFlops)] public object Forward() => _w.Forward();
}

/// <summary>[64,3,32,32] Conv-ReLU-MaxPool x2, Flatten, Linear(2048,10), cross-entropy mean, float32.</summary>
[MemoryDiagnoser]
public class CnnBenchmarks
{
    private GradientWorkload _w = null!;

    [GlobalSetup] public void Setup() => _w = GradientWorkload.Cnn();

    [Benchmark] public object Gradient() => _w.Gradient();

    [Benchmark] public object Forward() => _w.Forward();
}

/// <summary>OpenBLAS sgemm through CurvNative's binding, for the GFLOP/s reference.</summary>
public class SgemmBenchmarks
{
    private readonly SgemmWorkload _big = new(1024, 1024, 1024);
    private readonly SgemmWorkload _mlp = new(256, 784, 256);

    [Benchmark, Flops(2.0 * 1024 * 1024 * 1024)] public void Sgemm1024() => _big.Run();

    [Benchmark, Flops(2.0 * 256 * 784 * 256)] public void Sgemm256x784x256() => _mlp.Run();
}
