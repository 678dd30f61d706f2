using CurvNative.Autodiff;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Autodiff.FiniteDifference;

namespace CurvNative.Tests.Autodiff;

/// <summary>
/// Stacked VJPs and JVPs (K columns in one sweep) against K single-column sweeps, for every primitive of
/// <see cref="PrimitiveDerivativeTests"/> (whose single-column rules are checked against finite differences),
/// also when only some inputs are differentiated, when K = 1, and on the gradient graph (forward-over-reverse).
/// </summary>
public class StackedDerivativeTests
{
    public static TheoryData<string> Cases() => PrimitiveDerivativeTests.Cases();

    private static Tensor<double> Stack(IReadOnlyList<Tensor<double>> items)
    {
        int len = items[0].Length;
        var s = Tensor<double>.Zeros([items.Count, .. items[0].ShapeArray]);
        for (int c = 0; c < items.Count; c++) items[c].Span.CopyTo(s.Span.Slice(c * len, len));
        return s;
    }

    private static Tensor<double> Item(Tensor<double> stack, int c) => stack.Slice0(c, 1).Reshape(stack.Shape[1..].ToArray());

    [Theory]
    [MemberData(nameof(Cases))]
    public void StackedRulesEqualOneColumnAtATime(string name)
    {
        var (f, makeInputs) = PrimitiveDerivativeTests.Table[name];
        foreach (int k in new[] { 1, 3 })
        {
            var rng = new Random(17 + k);
            var leaves = Leaves(makeInputs(rng));
            var y = f(leaves);
            foreach (var wrt in new[] { leaves, leaves[..1] })
            {
                var u = Enumerable.Range(0, k).Select(_ => Random(rng, y.Value.ShapeArray)).ToArray();
                var stacked = Autograd.GradStacked(y, wrt, Stack(u));
                for (int c = 0; c < k; c++)
                {
                    var single = Autograd.Grad(y, wrt, Var<double>.Constant(u[c]));
                    for (int i = 0; i < wrt.Length; i++)
                        AssertClose(single[i].Value, Item(stacked[i], c), 1e-13, $"{name}: stacked VJP, K = {k}, input {i}, column {c}");
                }

                var v = wrt.Select(l => Enumerable.Range(0, k).Select(_ => Random(rng, l.Value.ShapeArray)).ToArray()).ToArray();
                var jv = Autograd.JvpStacked([y], wrt, v.Select(Stack).ToArray())[0];
                for (int c = 0; c < k; c++)
                {
                    var single = Autograd.Jvp(y, wrt, v.Select(vi => Var<double>.Constant(vi[c])).ToArray());
                    AssertClose(single.Value, Item(jv, c), 1e-13, $"{name}: stacked JVP, K = {k}, column {c}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SweepsInAPoolScopeReuseBuffersWithoutChangingResults(string name)
    {
        var (f, makeInputs) = PrimitiveDerivativeTests.Table[name];
        var rng = new Random(23);
        var leaves = Leaves(makeInputs(rng));
        var y = f(leaves);
        var u = Stack(Enumerable.Range(0, 3).Select(_ => Random(rng, y.Value.ShapeArray)).ToArray());
        var v = leaves.Select(l => Stack(Enumerable.Range(0, 3).Select(_ => Random(rng, l.Value.ShapeArray)).ToArray())).ToArray();
        AssertPooledSweepsMatch(() => Autograd.GradStacked(y, leaves, u), [u], $"{name}: VJP");
        AssertPooledSweepsMatch(() => Autograd.JvpStacked([y], leaves, v), v, $"{name}: JVP");
    }

    [Fact]
    public void PooledSweepsThroughANetworkMatchUnpooledOnes()
    {
        // Conv, ReLU, max-pool, flatten, linear, tanh: views (reshape), scatters and accumulations (a skip sum).
        var rng = new Random(29);
        var conv = new CurvNative.NN.Modules.Conv2d<double>("c", 2, 3, 3, padding: 1, rng: rng);
        var linear = new CurvNative.NN.Modules.Linear<double>("l", 3 * 4 * 4, 5, rng: rng);
        var x = Var<double>.Constant(Random(rng, [4, 2, 8, 8]));
        var h = conv.Forward(x);
        var p = F.MaxPool2d(F.Relu(h), 2, 2);
        var z = linear.Forward(F.Reshape(p, 4, 3 * 4 * 4));
        var y = F.Add(F.Tanh(z), z);
        var u = Random(rng, [2, 4, 5]);
        AssertPooledSweepsMatch(() => Autograd.GradStacked(y, [h, z, conv.Weight.Var, linear.Weight.Var], u), [u], "network VJP");
        Var<double>[] leaves = [conv.Weight.Var, linear.Weight.Var];
        var v = leaves.Select(l => Random(rng, [2, .. l.Value.ShapeArray])).ToArray();
        AssertPooledSweepsMatch(() => Autograd.JvpStacked([h, y], leaves, v), v, "network JVP");
    }

    /// <summary>The sweep inside a scope that pools every buffer and poisons it with NaN on return gives exactly
    /// the unpooled result, round after round (later rounds run on recycled buffers), and never pools the caller's stacks.</summary>
    private static void AssertPooledSweepsMatch(Func<Tensor<double>[]> sweep, Tensor<double>[] callerStacks, string what)
    {
        var expected = sweep();
        using var pool = TensorPool<double>.Enter(minLength: 1, poison: true);
        for (int round = 0; round < 3; round++)
        {
            var got = sweep();
            for (int i = 0; i < got.Length; i++) AssertClose(expected[i], got[i], 0, $"{what}: pooled sweep {round}, result {i}");
            foreach (var g in got) if (!callerStacks.Any(s => ReferenceEquals(s.Buffer, g.Buffer))) pool.Return(g);
        }
        foreach (var s in callerStacks)
            Assert.All(s.Span.ToArray(), e => Assert.False(double.IsNaN(e), $"{what}: the caller's stack was returned to the pool"));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void StackedForwardOverReverseEqualsHessianVectorProducts(string name)
    {
        var (f, makeInputs) = PrimitiveDerivativeTests.Table[name];
        var rng = new Random(5);
        var leaves = Leaves(makeInputs(rng));
        var y = f(leaves);
        var u = Var<double>.Constant(Random(rng, y.Value.ShapeArray));
        var s = F.Sum(F.Mul(y, u));
        if (!s.RequiresGrad) return;
        var grads = Autograd.Grad(s, leaves, createGraph: true);
        const int k = 2;
        var v = leaves.Select(l => Enumerable.Range(0, k).Select(_ => Random(rng, l.Value.ShapeArray)).ToArray()).ToArray();
        var hv = Autograd.JvpStacked(grads, leaves, v.Select(Stack).ToArray());
        for (int c = 0; c < k; c++)
        {
            var single = Autograd.Jvp(grads, leaves, v.Select(vi => Var<double>.Constant(vi[c])).ToArray());
            for (int i = 0; i < leaves.Length; i++)
                AssertClose(single[i].Value, Item(hv[i], c), 1e-12, $"{name}: stacked forward-over-reverse, input {i}, column {c}");
        }
    }

    [Fact]
    public void StacksOfTheWrongShapeAreRejectedWithBothShapes()
    {
        var x = Var<double>.Leaf(Tensor<double>.Zeros(2, 3));
        var y = F.Tanh(x);
        var e = Assert.Throws<ArgumentException>(() => Autograd.GradStacked(y, [x], Tensor<double>.Zeros(4, 3, 2)));
        Assert.Contains("[K, 2, 3]", e.Message);
        Assert.Contains("[4, 3, 2]", e.Message);
        Assert.Throws<ArgumentException>(() => Autograd.JvpStacked([y], [x], [Tensor<double>.Zeros(2, 3)]));
    }

    [Fact]
    public void ZeroColumnsGiveEmptyStacks()
    {
        var x = Var<double>.Leaf(Random(new Random(1), [2, 3]));
        var w = Var<double>.Leaf(Random(new Random(2), [4, 3]));
        var y = F.Tanh(F.Linear(x, w));
        var g = Autograd.GradStacked(y, [x, w], Tensor<double>.Zeros(0, 2, 4));
        Assert.Equal([0, 2, 3], g[0].ShapeArray);
        Assert.Equal([0, 4, 3], g[1].ShapeArray);
        var t = Autograd.JvpStacked([y], [w], [Tensor<double>.Zeros(0, 4, 3)]);
        Assert.Equal([0, 2, 4], t[0].ShapeArray);
    }
}
