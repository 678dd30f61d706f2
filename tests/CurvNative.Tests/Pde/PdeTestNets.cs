using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.Pde;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Taylor;

/// <summary>Small networks and points for the PDE operator tests, and a relative comparison.</summary>
internal static class PdeTestNets
{
    public static Module<T> Activation<T>(string name) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => name switch
    {
        "tanh" => new Tanh<T>(),
        "sigmoid" => new Sigmoid<T>(),
        "sin" => new Sin<T>(),
        "cos" => new Cos<T>(),
        "gelu" => new GELU<T>(),
        "softplus" => new Softplus<T>(),
        "exp" => new Exp<T>(),
        "relu" => new ReLU<T>(),
        _ => throw new ArgumentException(name),
    };

    /// <summary>D -> h -> (residual block h -> h) -> h -> 1 with the given activation.</summary>
    public static Sequential<T> Mlp<T>(int d, string activation, int hidden = 8, bool residual = true, int seed = 1) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var layers = new List<Module<T>> { new Linear<T>("0", d, hidden, rng: rng), Activation<T>(activation) };
        if (residual) layers.Add(new Residual<T>(new Sequential<T>(new Linear<T>("r", hidden, hidden, rng: rng), Activation<T>(activation))));
        layers.Add(new Linear<T>("2", hidden, hidden, rng: rng));
        layers.Add(Activation<T>(activation));
        layers.Add(new Linear<T>("4", hidden, 1, rng: rng));
        return new Sequential<T>([.. layers]);
    }

    public static Tensor<T> Points<T>(int n, int d, int seed, double scale = 1) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var t = Tensor<T>.Zeros(n, d);
        for (int i = 0; i < t.Length; i++) t.Span[i] = T.CreateTruncating(scale * (2 * rng.NextDouble() - 1));
        return t;
    }

    /// <summary>The operator in the three modes, standard and collapsed checked against nested to <paramref name="rtol"/>.</summary>
    public static (PdeResult<double> Nested, PdeResult<double> Standard, PdeResult<double> Collapsed) ModesAgree(Module<double> model, Tensor<double> x, PdeOperator<double> op, double rtol)
    {
        var nested = PdeOps.Apply(model, x, op, TaylorMode.Nested);
        var standard = PdeOps.Apply(model, x, op, TaylorMode.Standard);
        var collapsed = PdeOps.Apply(model, x, op, TaylorMode.Collapsed);
        AssertRelative(nested.Values.Value, standard.Values.Value, rtol, $"{op}: standard vs nested");
        AssertRelative(nested.Values.Value, collapsed.Values.Value, rtol, $"{op}: collapsed vs nested");
        return (nested, standard, collapsed);
    }

    public static void AssertRelative(Tensor<double> expected, Tensor<double> actual, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.False(double.IsNaN(actual.Span[i]), $"{what}: NaN at {i}");
            diff = Math.Max(diff, Math.Abs(expected.Span[i] - actual.Span[i]));
            scale = Math.Max(scale, Math.Abs(expected.Span[i]));
        }
        Assert.True(scale > 0, $"{what}: the reference is zero, the comparison would be vacuous");
        Assert.True(diff <= rtol * scale, $"{what}: max abs difference {diff:E3} exceeds {rtol:E1} x max |reference| {scale:E3}");
    }
}
