using System.Buffers;
using System.Numerics;
using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

public static partial class F
{
    // Convolution is bilinear, so its two derivatives are again bilinear in their arguments:
    // conv(x, w), its input gradient convT(g, w) and its weight gradient wgrad(x, g) form a family
    // closed under differentiation, which is what makes second and higher derivatives through
    // convolutions (and forward-over-reverse) work without special cases.

    /// <summary>2-D cross-correlation of x [N, C, H, W] with w [O, C, k, k], zero padding (PyTorch's conv2d without bias).</summary>
    public static Var<T> Conv2d<T>(Var<T> x, Var<T> w, int stride = 1, int padding = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank != 4 || w.Rank != 4 || x.Shape[1] != w.Shape[1])
            throw new ArgumentException($"Conv2d expects x [N, C, H, W] and w [O, C, kh, kw] with equal C, got {Shape.Format(x.Shape)} and {Shape.Format(w.Shape)}.");
        return ConvForward(x, w, Geometry(x.Shape, w.Shape, stride, padding));
    }

    private static Conv2dGeometry Geometry(ReadOnlySpan<int> x, ReadOnlySpan<int> w, int stride, int padding)
        => Conv2dGeometry.Create(x[0], x[1], x[2], x[3], w[0], w[2], w[3], stride, stride, padding, padding);

    // The native kernels overwrite their whole output (curvnative.h), so outputs skip zeroing.
    private static Var<T> ConvInputGrad<T>(Var<T> gy, Var<T> w, Conv2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gx = Tensor<T>.Uninitialized(g.N, g.InChannels, g.Height, g.Width);
        NativeKernels.Conv2dInputGrad(g, gy.Value.Span, w.Value.Span, gx.Span);
        return Var<T>.Record(new ConvOp<T>(ConvRole.InputGrad, g), gx, gy, w);
    }

    private static Var<T> ConvWeightGrad<T>(Var<T> x, Var<T> gy, Conv2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gw = Tensor<T>.Uninitialized(g.OutChannels, g.InChannels, g.KernelH, g.KernelW);
        NativeKernels.Conv2dWeightGrad(g, x.Value.Span, gy.Value.Span, gw.Span);
        return Var<T>.Record(new ConvOp<T>(ConvRole.WeightGrad, g), gw, x, gy);
    }

    private static Var<T> ConvForward<T>(Var<T> x, Var<T> w, Conv2dGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Tensor<T>.Uninitialized(g.N, g.OutChannels, g.OutHeight, g.OutWidth);
        NativeKernels.Conv2dForward(g, x.Value.Span, w.Value.Span, y.Span);
        return Var<T>.Record(new ConvOp<T>(ConvRole.Forward, g), y, x, w);
    }

    private enum ConvRole { Forward, InputGrad, WeightGrad }

    private sealed class ConvOp<T>(ConvRole role, Conv2dGeometry g) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "Conv2d" + (role == ConvRole.Forward ? "" : role.ToString());

        // Evaluates this node's bilinear map at other arguments (for JVPs: t_a with b, a with t_b).
        private Var<T> Apply(Var<T> a, Var<T> b) => role switch
        {
            ConvRole.Forward => ConvForward(a, b, g),
            ConvRole.InputGrad => ConvInputGrad(a, b, g),
            _ => ConvWeightGrad(a, b, g),
        };

        public override Var<T>?[] Vjp(Node<T> node, Var<T> gout, bool[] needs)
        {
            var a = node.Inputs[0]; var b = node.Inputs[1];
            Var<T>? ga = null, gb = null;
            switch (role)
            {
                case ConvRole.Forward: // y = conv(x, w)
                    if (needs[0]) ga = ConvInputGrad(gout, b, g);
                    if (needs[1]) gb = ConvWeightGrad(a, gout, g);
                    break;
                case ConvRole.InputGrad: // gx = convT(gy, w); <u, convT(gy, w)> = <conv(u, w), gy>
                    if (needs[0]) ga = ConvForward(gout, b, g);
                    if (needs[1]) gb = ConvWeightGrad(gout, a, g);
                    break;
                default: // gw = wgrad(x, gy); <V, wgrad(x, gy)> = <conv(x, V), gy>
                    if (needs[0]) ga = ConvInputGrad(b, gout, g);
                    if (needs[1]) gb = ConvForward(a, gout, g);
                    break;
            }
            return [ga, gb];
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
            => Sum2(t[0] is { } ta ? Apply(ta, node.Inputs[1]) : null, t[1] is { } tb ? Apply(node.Inputs[0], tb) : null);

        // Stacked, for the forward convolution: K stacked images are a batch of K N images for the input's
        // gradient and tangent (one native call); the weight's terms go one item at a time.
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> gout, bool[] needs)
        {
            if (role != ConvRole.Forward) return base.VjpStacked(node, gout, needs);
            int k = gout.Shape[0];
            var x = node.Inputs[0]; var w = node.Inputs[1];
            Tensor<T>? gx = null, gw = null;
            if (needs[0])
            {
                var wide = g.WithBatch(k * g.N);
                gx = Tensor<T>.Uninitialized(Stacked.Shape(k, x.Shape));
                NativeKernels.Conv2dInputGrad(wide, gout.Span, w.Value.Span, gx.Span);
            }
            if (needs[1]) gw = Stacked.FromItems(k, w.Shape, c => ConvWeightGrad(x, Var<T>.Constant(Stacked.Item(gout, c)), g).Value);
            return [gx, gw];
        }

        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
        {
            if (role != ConvRole.Forward) return base.JvpStacked(node, t);
            var x = node.Inputs[0]; var w = node.Inputs[1];
            Tensor<T>? r = null;
            if (t[0] is { } tx)
            {
                r = Tensor<T>.Uninitialized(Stacked.Shape(tx.Shape[0], node.Output.Shape));
                NativeKernels.Conv2dForward(g.WithBatch(tx.Shape[0] * g.N), tx.Span, w.Value.Span, r.Span);
            }
            if (t[1] is { } tw)
                r = Stacked.Sum2(r, Stacked.FromItems(tw.Shape[0], node.Output.Shape, c => ConvForward(x, Var<T>.Constant(Stacked.Item(tw, c)), g).Value));
            return r!;
        }
    }

    /// <summary>Max pooling of [N, C, H, W] over k x k windows without padding (PyTorch semantics;
    /// the gradient goes to the first maximum of each window).</summary>
    public static Var<T> MaxPool2d<T>(Var<T> x, int kernel, int stride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank != 4) throw new ArgumentException($"MaxPool2d expects [N, C, H, W], got {Shape.Format(x.Shape)}.");
        var g = Pool2dGeometry.Create(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], kernel, kernel, stride, stride, 0, 0);
        var y = Tensor<T>.Uninitialized(g.N, g.Channels, g.OutHeight, g.OutWidth);
        var argmax = ArrayPool<long>.Shared.Rent(y.Length); // scratch: only the int copy below is kept
        try
        {
            NativeKernels.MaxPool2dForward(g, x.Value.Span, y.Span, argmax.AsSpan(0, y.Length));
            var index = new int[y.Length];
            for (int i = 0; i < index.Length; i++) index[i] = (int)argmax[i];
            // The selection is piecewise constant, so the pooled value is a gather: linear in x. The kernel's
            // y is exactly x.flat[index] (indices in range by construction), so record it as that gather
            // instead of gathering a second time.
            return Var<T>.Record(new GatherOp<T>(index), y, x);
        }
        finally { ArrayPool<long>.Shared.Return(argmax); }
    }
}
