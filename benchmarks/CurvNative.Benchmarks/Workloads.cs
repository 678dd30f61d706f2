using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Benchmarks;

/// <summary>
/// The benchmarked work, shared by the BenchmarkDotNet classes and the ratio mode so both time exactly
/// the same thing as tools/bench_torch.py (float32, fixed seeds).
/// </summary>
public static class Workloads
{
    /// <summary>FLOPs of one MLP gradient (784-256-256-10, batch 256), counting GEMMs only:
    /// forward 2B(784*256 + 256*256 + 256*10), the same again for the three weight gradients, and
    /// 2B(256*256 + 256*10) for the input gradients of layers 2 and 3 (layer 1's input is data)
    /// = 2*256*(2*268800 + 68096) = 310,116,352 (bias adds, tanh and the loss are O(B*256) and not counted).</summary>
    public const double MlpGradFlops = 2.0 * 256 * (2 * MlpLayerMacs + MlpHiddenInputGradMacs);

    /// <summary>FLOPs of the MLP forward pass alone: 2B(784*256 + 256*256 + 256*10) = 137,625,600.</summary>
    public const double MlpForwardFlops = 2.0 * 256 * MlpLayerMacs;

    private const double MlpLayerMacs = 784 * 256 + 256 * 256 + 256 * 10;   // per sample, all three layers
    private const double MlpHiddenInputGradMacs = 256 * 256 + 256 * 10;     // dX of layers 2 and 3

    internal static Tensor<float> RandomNormal(Random rng, params int[] shape)
    {
        var t = Tensor<float>.Zeros(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            s[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return t;
    }

    internal static int[] RandomClasses(Random rng, int n, int classes)
    {
        var y = new int[n];
        for (int i = 0; i < n; i++) y[i] = rng.Next(classes);
        return y;
    }
}

/// <summary>A model, a batch and its cross-entropy gradient with respect to all parameters.</summary>
public sealed class GradientWorkload
{
    private readonly Module<float> _model;
    private readonly CrossEntropyLoss<float> _loss = new();
    private readonly Var<float> _x;
    private readonly Targets<float> _y;
    private readonly Var<float>[] _parameters;

    private GradientWorkload(Module<float> model, Tensor<float> x, int[] y)
    {
        _model = model;
        _x = Var<float>.Constant(x);
        _y = Targets<float>.FromClasses(y);
        _parameters = model.Parameters().Select(p => p.Var).ToArray();
    }

    /// <summary>MLP 784-256(tanh)-256(tanh)-10, batch 256.</summary>
    public static GradientWorkload Mlp()
    {
        var rng = new Random(1);
        var model = new Sequential<float>(
            new Linear<float>("0", 784, 256, rng: rng), new Tanh<float>(),
            new Linear<float>("2", 256, 256, rng: rng), new Tanh<float>(),
            new Linear<float>("4", 256, 10, rng: rng));
        return new GradientWorkload(model, Workloads.RandomNormal(rng, 256, 784), Workloads.RandomClasses(rng, 256, 10));
    }

    /// <summary>[64,3,32,32] Conv(3,16,3,p1) ReLU MaxPool2 Conv(16,32,3,p1) ReLU MaxPool2 Flatten Linear(2048,10).</summary>
    public static GradientWorkload Cnn()
    {
        var rng = new Random(2);
        var model = new Sequential<float>(
            new Conv2d<float>("0", 3, 16, 3, padding: 1, rng: rng), new ReLU<float>(), new MaxPool2d<float>(2),
            new Conv2d<float>("3", 16, 32, 3, padding: 1, rng: rng), new ReLU<float>(), new MaxPool2d<float>(2),
            new Flatten<float>(), new Linear<float>("7", 32 * 8 * 8, 10, rng: rng));
        return new GradientWorkload(model, Workloads.RandomNormal(rng, 64, 3, 32, 32), Workloads.RandomClasses(rng, 64, 10));
    }

    /// <summary>Forward pass and loss, recording the graph as the gradient needs.</summary>
    public Var<float> Forward() => _loss.Forward(_model.Forward(_x), _y);

    /// <summary>Forward + backward: the gradients of the mean cross-entropy for every parameter.</summary>
    public Var<float>[] Gradient() => Autograd.Grad(Forward(), _parameters);

    public int ParameterCount => _parameters.Sum(p => p.Length);

    /// <summary>The model, for building curvature operators of the same workload.</summary>
    public Module<float> Model => _model;

    /// <summary>The batch as a one-batch data set.</summary>
    public DataSet<float> Data => new(_x.Value, _y);
}

/// <summary>C = A B with OpenBLAS sgemm through the library's own binding (row-major, float32).</summary>
public sealed class SgemmWorkload
{
    private readonly float[] _a, _b, _c;

    public SgemmWorkload(int m, int k, int n)
    {
        M = m; K = k; N = n;
        var rng = new Random(3);
        _a = Workloads.RandomNormal(rng, m, k).ToArray();
        _b = Workloads.RandomNormal(rng, k, n).ToArray();
        _c = new float[m * n];
    }

    public int M { get; }
    public int K { get; }
    public int N { get; }
    public double Flops => 2.0 * M * K * N;

    public void Run() => Native.Blas.Gemm(false, false, M, N, K, 1f, _a, K, _b, N, 0f, _c, N);
}
